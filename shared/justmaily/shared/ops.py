"""Operations on the wire: the server's own SLO compliance (GET /api/ops/slo)."""

from __future__ import annotations

import msgspec


class BurnRate(msgspec.Struct, frozen=True, kw_only=True):
    window: str  # 5m, 30m, 1h, 6h, 3d
    rate: (
        float | None
    )  # bad share / error budget; 1.0 spends the budget exactly in the window; None: no events


class SloStatus(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    objective: float  # e.g. 0.9999
    threshold_seconds: float | None
    window_days: int
    good: int
    total: int
    compliance: float | None  # good / total over the window; None: no events yet
    budget_remaining: float  # 1 untouched, 0 spent, below 0 overspent
    burn_rates: list[BurnRate]
    alerts: list[str]  # severities the generated alert rules would fire now: "page", "ticket"


class SloReport(msgspec.Struct, frozen=True, kw_only=True):
    generated_at: str  # RFC 3339
    objectives: list[SloStatus]
