"""The server's own answer to "do we meet our objectives?", from the stored indicator counts:
compliance and error budget over the SLO window, burn rates over the alerting windows, and
which of the generated alerts the same numbers would fire. Pure: the service reads the counts."""

from __future__ import annotations

from justmaily.server.ops.slo import BURN_ALERTS, WINDOW_SECONDS, Objective, SloFile
from justmaily.shared.ops import BurnRate, SloStatus

Counts = dict[str, list[tuple[int, int, int]]]  # slo -> [(minute, good, total)]


def statuses(slos: SloFile, counts: Counts, now: float) -> list[SloStatus]:
    return [_status(slo, slos.window_days, counts.get(slo.name, []), now) for slo in slos.slo]


def _status(slo: Objective, window_days: int, rows: list[tuple[int, int, int]], now: float) -> SloStatus:
    good, total = _sum(rows, now, window_days * 86400)
    bad = total - good
    burns = {}
    for window, seconds in WINDOW_SECONDS.items():
        window_good, window_total = _sum(rows, now, seconds)
        burns[window] = _burn(window_total - window_good, window_total, slo.budget)
    firing = sorted(
        {
            alert.severity
            for alert in BURN_ALERTS
            if _above(burns[alert.long_window], alert.factor)
            and _above(burns[alert.short_window], alert.factor)
        }
    )
    return SloStatus(
        name=slo.name,
        description=slo.description,
        objective=slo.objective,
        threshold_seconds=slo.threshold_seconds,
        window_days=window_days,
        good=good,
        total=total,
        compliance=good / total if total else None,
        # 1: untouched; 0: spent; below 0: overspent. With no events, nothing is spent.
        budget_remaining=1 - (bad / total) / slo.budget if total else 1.0,
        burn_rates=[BurnRate(window=w, rate=r) for w, r in burns.items()],
        alerts=firing,
    )


def _sum(rows: list[tuple[int, int, int]], now: float, seconds: int) -> tuple[int, int]:
    since = now - seconds
    good = total = 0
    for minute, row_good, row_total in rows:
        if minute + 60 > since:  # a minute that overlaps the window counts whole
            good += row_good
            total += row_total
    return good, total


def _burn(bad: int, total: int, budget: float) -> float | None:
    """How many times faster than the objective allows the budget is spent; None without events."""
    return (bad / total) / budget if total else None


def _above(rate: float | None, factor: float) -> bool:
    return rate is not None and rate > factor
