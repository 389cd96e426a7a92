"""Schemathesis, every check, over every operation of a real demo server: it finds nothing.

A short run (a few cases per operation, a fixed seed, on SQLite); `just fuzz-api` runs it at length.
New routes are fuzzed as soon as they are served: their credentials, closed bodies and error
answers come from their policy marks and Structs (http/openapi.py), not from each route.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fuzz_api import demo_server, schemathesis


@pytest.mark.server_process
@pytest.mark.timeout(180)
def test_schemathesis_with_every_check_finds_nothing(tmp_path: Path) -> None:
    with demo_server(tmp_path / "data") as (server, token):
        run = schemathesis(
            server.url,
            token,
            tmp_path,
            examples=1,
            seed=20261207,
            workers=1,
            extra=["--generation-database", "none"],
        )
        server_errors = [line for line in server.log().splitlines() if '"level": "error"' in line]
    assert run.returncode == 0, run.output
    assert not server_errors, server_errors
    assert run.report["operations"]["tested"] >= 80, run.summary
    assert all(phase["status"] == "success" for phase in run.report["phases"].values()), run.report["phases"]
