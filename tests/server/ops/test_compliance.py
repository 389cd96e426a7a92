"""The server's own compliance: budget, burn rates per window, and the alerts the generated
rules would fire, from stored counts per minute."""

from __future__ import annotations

import pytest

from justmaily.server.ops import compliance, slo
from justmaily.shared.ops import SloStatus

NOW = 1_800_000_000.0
_FILE = slo.parse(
    'window_days = 30\n[[slo]]\nname = "availability"\nobjective = 0.999\ndescription = "no 5xx"\n', "t.toml"
)


def minutes(count: int, good: int, total: int, *, ending: float = NOW) -> list[tuple[int, int, int]]:
    last = int(ending // 60) * 60
    return [(last - 60 * i, good, total) for i in range(count)]


def status(rows: list[tuple[int, int, int]]) -> SloStatus:
    return compliance.statuses(_FILE, {"availability": rows}, NOW)[0]


def burn(result: SloStatus, window: str) -> float | None:
    rates: dict[str, float | None] = {b.window: b.rate for b in result.burn_rates}
    return rates[window]


def test_no_events_spend_nothing_and_fire_nothing() -> None:
    result = status([])
    assert (result.total, result.compliance, result.budget_remaining, result.alerts) == (0, None, 1.0, [])
    assert burn(result, "1h") is None


def test_an_outage_pages() -> None:
    result = status(minutes(120, 1000, 1000, ending=NOW - 600) + minutes(10, 0, 1000))
    assert burn(result, "5m") == pytest.approx(1000.0, rel=0.05)  # every event bad: 1/0.001
    assert result.alerts == ["page", "ticket"]
    assert result.budget_remaining < 0


def test_a_slow_burn_opens_a_ticket_only() -> None:
    # 0.2 % bad for four days: twice the budget, under the paging rates.
    result = status(minutes(4 * 24 * 60, 998, 1000))
    assert burn(result, "3d") == pytest.approx(2.0)
    assert result.alerts == ["ticket"]
    assert result.compliance == pytest.approx(0.998)


def test_old_minutes_leave_the_window() -> None:
    old = minutes(60, 0, 1000, ending=NOW - 31 * 86400)
    result = status(old + minutes(60, 1000, 1000))
    assert (result.good, result.total, result.budget_remaining) == (60_000, 60_000, 1.0)
