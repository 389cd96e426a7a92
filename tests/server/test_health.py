"""Probes: live answers while the process runs; ready only while the database answers."""

from __future__ import annotations

from pathlib import Path

import httpx

from justmaily.server.app import create_app
from justmaily.server.settings import Settings
from tests.plugins.api import serving
from tests.support.server_process import free_port


async def test_probes_are_public_and_healthy(client: httpx.AsyncClient, backend: str) -> None:
    for probe in ("live", "ready", "startup"):
        response = await client.get(f"/health/{probe}")
        assert response.status_code == 200, probe
        assert response.json()["status"] == "ok"
    expected = {"database": "ok", "transparency_log": "ok"} | (
        {"fanout": "ok"} if backend == "postgresql" else {}
    )
    assert (await client.get("/health/ready")).json()["checks"] == expected


async def test_ready_fails_while_the_database_is_unreachable(tmp_path: Path) -> None:
    # Nothing listens on this port; the app starts (no start-up migration) but is not ready.
    unreachable = Settings.of(
        database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none",
        data_dir=str(tmp_path),
        db_pool_timeout_seconds=1,
    )
    app = create_app(unreachable)
    async with serving(app) as client:
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/health/startup")).status_code == 200
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "unavailable",
            "checks": {"database": "unreachable", "fanout": "connecting", "transparency_log": "ok"},
        }
