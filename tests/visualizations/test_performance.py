"""The performance view's pyqtgraph widgets, real widgets offscreen, fed successive snapshots."""

from __future__ import annotations

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from justmaily.shared.ops import (
    BurnRate,
    LogHealth,
    MeshHealth,
    PerformanceSnapshot,
    RoomHealth,
    SendingHealth,
    SloReport,
    SloStatus,
)
from justmaily.visualizations.performance import (
    ALARM_COLOUR,
    GOOD_COLOUR,
    BudgetBurn,
    PerformanceDashboard,
)
from tests.visualizations.test_performance_stats import buckets, route, snapshot


def busy(at: float, a: tuple[int, ...], b: tuple[int, ...], errors: int = 0) -> PerformanceSnapshot:
    return snapshot(at, route("/api/campaigns", a, errors=errors), route("/api/contacts", b, method="POST"))


def test_the_dashboard_draws_the_heat_map_and_lines_per_route(qtbot: QtBot) -> None:
    dashboard = PerformanceDashboard()
    qtbot.addWidget(dashboard)
    dashboard.resize(1000, 700)
    assert dashboard.heat_map.is_empty()
    assert dashboard.percentiles.is_empty()
    dashboard.add_snapshot(busy(0.0, (0, 0, 0, 0), (0, 0, 0, 0)))
    assert dashboard.heat_map.is_empty()  # one snapshot: no interval yet
    dashboard.add_snapshot(busy(5.0, (10, 0, 0, 0), (0, 0, 5, 0)))
    dashboard.add_snapshot(busy(10.0, (10, 10, 0, 0), (0, 0, 10, 0), errors=2))
    assert [dashboard.route.itemText(i) for i in range(dashboard.route.count())] == [
        "All routes",
        "GET /api/campaigns",
        "POST /api/contacts",
    ]
    # All routes: the first interval 10 fast and 5 slow, the second 10 medium and 5 slow.
    assert not dashboard.heat_map.is_empty()
    np.testing.assert_allclose(
        dashboard.heat_map.shares, [[2 / 3, 0.0], [0.0, 2 / 3], [1 / 3, 1 / 3], [0.0, 0.0]]
    )
    assert list(dashboard.throughput.lines["requests/s"].yData) == pytest.approx([3.0, 3.0])
    assert list(dashboard.error_rate.lines["error rate"].yData) == pytest.approx([0.0, 2 / 15 * 100])
    assert dashboard.error_rate.plot.viewRange()[1] == pytest.approx([0.0, 2 / 15 * 100 * 1.15])
    dashboard.select_route(("GET", "/api/campaigns"))
    assert dashboard.selected_route() == ("GET", "/api/campaigns")
    np.testing.assert_allclose(dashboard.heat_map.shares[:2], [[1.0, 0.0], [0.0, 1.0]])
    p50 = list(dashboard.percentiles.lines["p50"].yData)
    assert p50 == pytest.approx([0.005, 0.01 + 0.09 * 0.5])
    assert list(dashboard.throughput.lines["requests/s"].yData) == pytest.approx([2.0, 2.0])
    assert not dashboard.grab().isNull()


def test_a_route_without_requests_in_an_interval_leaves_a_gap(qtbot: QtBot) -> None:
    dashboard = PerformanceDashboard()
    qtbot.addWidget(dashboard)
    for at in (0.0, 5.0):
        dashboard.add_snapshot(busy(at, (1, 0, 0, 0), (0, 0, 0, 0)))
    assert dashboard.percentiles.is_empty()
    assert dashboard.error_rate.is_empty()
    assert not dashboard.throughput.is_empty()  # 0 req/s is something to draw
    assert list(dashboard.throughput.lines["requests/s"].yData) == [0.0]
    assert dashboard.throughput.plot.viewRange()[1] == pytest.approx([0.0, 1.0])  # zeros on the floor


def test_the_tiles_show_rooms_sending_the_mesh_the_log_and_the_pool(qtbot: QtBot) -> None:
    dashboard = PerformanceDashboard()
    qtbot.addWidget(dashboard)
    first = PerformanceSnapshot(
        taken_at=0.0,
        routes=[],
        rooms=RoomHealth(connections=2, edits=10, store_failures=0, store_lag=buckets(5, 5, 0, 0)),
        sending=SendingHealth(messages={"sent": 7}, outbox={"queued": 4}, open_breakers=[]),
        db_pool={"in_use": 1, "idle": 3},
        log=LogHealth(entries=9, publish_lag_seconds=0.0),
    )
    dashboard.add_snapshot(first)
    assert "no relay breaker open" in dashboard.tiles.text("Sending")
    second = PerformanceSnapshot(
        taken_at=10.0,
        routes=[],
        rooms=RoomHealth(connections=3, edits=30, store_failures=1, store_lag=buckets(5, 5, 0, 0)),
        sending=SendingHealth(
            messages={"sent": 9, "failed": 1},
            outbox={"queued": 4, "in_doubt": 2},
            open_breakers=["relay-<b>"],
        ),
        db_pool={"in_use": 1, "idle": 3},
        log=LogHealth(entries=12, publish_lag_seconds=90.0),
        mesh=MeshHealth(
            agents={"healthy": 6, "down": 1},
            tasks={"ok": 40, "failed": 3, "degraded": 2},
            in_flight=1,
            task_seconds=buckets(5, 5, 0, 0),
        ),
    )
    dashboard.add_snapshot(second)
    assert dashboard.tiles.text("Rooms").splitlines() == [
        "3 connected",
        "30 edits stored (2.0/s)",
        "store lag p95 91 ms",
        "1 failed to store",
    ]
    sending = dashboard.tiles.text("Sending").splitlines()
    assert sending == ["4 queued, 0 sending", "2 in doubt", "breakers open: relay-<b>", "9 sent, 1 failed"]
    shown = dashboard.tiles.tiles["Sending"].text()
    assert f'<span style="color:{ALARM_COLOUR}">2 in doubt</span>' in shown
    assert "relay-&lt;b&gt;" in shown  # a name is text, not markup
    assert dashboard.tiles.text("Log").splitlines() == ["12 entries", "unpublished for 90 s"]
    assert dashboard.tiles.text("Database").splitlines() == ["1 connections in use", "3 idle"]
    assert dashboard.tiles.text("Mesh").splitlines() == [
        "6 agents healthy",
        "0 degraded, 1 down",
        "1 analyses running; p95 91 ms",
        "2 answered without an agent",
    ]
    assert (
        f'<span style="color:{ALARM_COLOUR}">0 degraded, 1 down</span>'
        in dashboard.tiles.tiles["Mesh"].text()
    )


def objective(name: str, budget: float, alerts: list[str]) -> SloStatus:
    return SloStatus(
        name=name,
        description=name,
        objective=0.999,
        threshold_seconds=None,
        window_days=30,
        good=999,
        total=1000,
        compliance=0.999,
        budget_remaining=budget,
        burn_rates=[BurnRate(window="5m", rate=14.4), BurnRate(window="1h", rate=None)],
        alerts=alerts,
    )


def test_the_budget_burn_highlights_firing_alerts(qtbot: QtBot) -> None:
    burn = BudgetBurn()
    qtbot.addWidget(burn)
    burn.show()
    burn.show_report(None)
    assert burn.empty.isVisible()
    report = SloReport(
        generated_at="2026-12-07T22:00:00Z",
        objectives=[objective("availability", 0.9, []), objective("latency", -0.2, ["page"])],
    )
    burn.show_report(report)
    assert not burn.empty.isVisible()
    assert burn.rows == [("availability", 0.9, GOOD_COLOUR), ("latency", -0.2, ALARM_COLOUR)]
    assert list(burn.bars.opts["width"]) == pytest.approx([90.0, 0.0])
    texts = [label.toPlainText() for label in burn.labels]
    assert texts[0] == "availability  90% left   burn 5m 14.4x  1h n/a"
    assert texts[1].endswith("FIRING: page")
    assert burn.labels[1].color.name() == ALARM_COLOUR
    assert not burn.grab().isNull()
