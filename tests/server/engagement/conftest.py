"""Engagement tests send first (with the delivery tests' fast timers and loopback relays)."""

from __future__ import annotations

from pathlib import Path

import pytest

from justmaily.server.settings import Settings
from tests.server.delivery.conftest import FAST_DELIVERY


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.of(database_url=database_url, data_dir=str(tmp_path / "data"), **FAST_DELIVERY)
