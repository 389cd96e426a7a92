"""Liveness, readiness and start-up probes."""

from __future__ import annotations

import msgspec


class HealthStatus(msgspec.Struct, frozen=True, kw_only=True):
    status: str  # "ok" or "unavailable"
    checks: dict[str, str] = msgspec.field(default_factory=dict)
