"""A real server process with a seeded team (`live`), and helpers to call it and enter its rooms."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from justmaily.server.db.engine import Database
from justmaily.server.identity.tokens import TokenSigner
from justmaily.server.keys.files import ed25519_key
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role
from tests.plugins.api import Member, Team, seed_team_into
from tests.support.server_process import ServerProcess, server_env

# Short timers so the tests see unloading, silence and compaction within seconds.
ROOM_ENV = {
    "JUSTMAILY_ROOM_SILENT_SECONDS": "3",
    "JUSTMAILY_ROOM_IDLE_UNLOAD_SECONDS": "0.3",
    "JUSTMAILY_ROOM_COMPACT_AFTER_UPDATES": "25",
    "JUSTMAILY_RATE_LIMIT_PER_IP": "100000/minute",
    "JUSTMAILY_RATE_LIMIT_PER_PRINCIPAL": "100000/minute",
}


@dataclass
class Live:
    server: ServerProcess
    team: Team
    settings: Settings
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    async def call(self, method: str, path: str, member: Member, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            return await client.request(method, path, headers=member.headers, **kwargs)

    async def create_campaign(self, member: Member | None = None, **fields: str) -> str:
        response = await self.call(
            "POST", "/api/campaigns", member or self.team[Role.EDITOR], json={"name": "Live", **fields}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def ticket(self, member: Member, campaign_id: str, *, acks: bool = True) -> str:
        response = await self.call("POST", f"/api/campaigns/{campaign_id}/room-ticket", member)
        assert response.status_code == 201, response.text
        return str(response.json()["url"]) + ("&acks=1" if acks else "")

    async def content(self, member: Member, campaign_id: str) -> dict[str, Any]:
        response = await self.call("GET", f"/api/campaigns/{campaign_id}/content", member)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def restart(self, tmp_path: Path, *, same_port: bool = False) -> None:
        """Start the server again (after `server.stop()`); `same_port` for clients that keep the URL."""
        port = self.server.port if same_port else None
        self.server = ServerProcess(self.env, tmp_path / "server-restarted.log", port=port).start()


async def _seed(settings: Settings) -> Team:
    database = Database(settings)
    try:
        return await seed_team_into(database, TokenSigner(ed25519_key(settings.jwt_key_path)))
    finally:
        await database.dispose()


@pytest.fixture
def live_env() -> dict[str, str]:
    """Override in a test module to change the server's settings."""
    return {}


@pytest.fixture
def live(settings: Settings, tmp_path: Path, live_env: dict[str, str]) -> Iterator[Live]:
    team = asyncio.run(_seed(settings))
    env = server_env(settings, **{**ROOM_ENV, **live_env})
    server = ServerProcess(env, tmp_path / "server.log").start()
    state = Live(server, team, settings, env)
    try:
        yield state
    finally:
        state.server.stop()
