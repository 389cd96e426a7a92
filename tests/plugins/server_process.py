"""A real `justmaily serve` process on a free loopback port, as a fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from justmaily.server.settings import Settings
from tests.support.server_process import ServerProcess, server_env


@pytest.fixture
def server_process(settings: Settings, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(server_env(settings), tmp_path / "server.log").start()
    try:
        yield server
    finally:
        server.stop()
