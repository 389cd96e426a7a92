"""Delivery tests run the app with short retry and breaker timers, so they see them act, and
allow relays on loopback, where their SMTP sink is."""

from __future__ import annotations

from pathlib import Path

import pytest

from justmaily.server.settings import Settings

FAST_DELIVERY = {
    "send_retry_seconds": 0.2,
    "relay_failures_to_open": 2,
    "relay_cooldown_seconds": 0.5,
    "send_rate_per_domain": 0.0,
    "smtp_allow_private_relays": True,  # the SMTP sink is on loopback
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.of(database_url=database_url, data_dir=str(tmp_path / "data"), **FAST_DELIVERY)
