"""Trust tests sign tree heads often, so they see them without waiting."""

from __future__ import annotations

from pathlib import Path

import pytest

from justmaily.server.settings import Settings
from tests.server.delivery.conftest import FAST_DELIVERY


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.of(
        database_url=database_url,
        data_dir=str(tmp_path / "data"),
        log_publish_seconds=0.05,
        **FAST_DELIVERY,
    )
