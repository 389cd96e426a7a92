"""Rates, percentiles and heat-map columns from successive snapshots (no Qt)."""

from __future__ import annotations

import pytest

from justmaily.shared.ops import (
    Bucket,
    LogHealth,
    PerformanceSnapshot,
    RoomHealth,
    RouteTraffic,
    SendingHealth,
)
from justmaily.visualizations.performance_stats import (
    History,
    bucket_deltas,
    bucket_labels,
    interval,
    percentile,
    shares,
)

BOUNDS = (0.01, 0.1, 1.0, None)


def buckets(*own: int) -> list[Bucket]:
    """Cumulative buckets from each bucket's own count."""
    total, made = 0, []
    for le, count in zip(BOUNDS, own, strict=True):
        total += count
        made.append(Bucket(le=le, count=total))
    return made


def route(path: str, own: tuple[int, ...], errors: int = 0, method: str = "GET") -> RouteTraffic:
    latency = buckets(*own)
    return RouteTraffic(
        method=method, route=path, requests=latency[-1].count, errors=errors, latency=latency, latency_sum=0.0
    )


def snapshot(at: float, *routes: RouteTraffic) -> PerformanceSnapshot:
    return PerformanceSnapshot(
        taken_at=at,
        routes=list(routes),
        rooms=RoomHealth(connections=0, edits=0, store_failures=0, store_lag=[]),
        sending=SendingHealth(messages={}, outbox={}, open_breakers=[]),
        db_pool={},
        log=LogHealth(entries=0, publish_lag_seconds=0.0),
    )


def test_percentiles_interpolate_within_the_bucket_like_prometheus() -> None:
    histogram = buckets(50, 40, 10, 0)  # 100 requests
    assert percentile(histogram, 0.5) == pytest.approx(0.01)  # the 50th is the first bucket's last
    assert percentile(histogram, 0.25) == pytest.approx(0.005)
    assert percentile(histogram, 0.9) == pytest.approx(0.1)
    assert percentile(histogram, 0.95) == pytest.approx(0.1 + 0.9 * 0.5)
    assert percentile(buckets(0, 0, 0, 0), 0.5) is None
    assert percentile([], 0.5) is None
    # A rank in the unbounded bucket: the largest bound is all that is known.
    assert percentile(buckets(1, 0, 0, 9), 0.99) == 1.0


def test_deltas_are_what_happened_in_between_and_a_restart_is_none() -> None:
    assert bucket_deltas(buckets(1, 1, 0, 0), buckets(3, 2, 1, 0)) == buckets(2, 1, 1, 0)
    assert bucket_deltas([], buckets(1, 0, 0, 0)) == buckets(1, 0, 0, 0)
    assert bucket_deltas(buckets(5, 0, 0, 0), buckets(1, 0, 0, 0)) is None
    assert bucket_deltas(buckets(1, 0, 0, 0), [Bucket(le=None, count=3)]) is None


def test_shares_and_labels_of_a_heat_map_column() -> None:
    assert shares(buckets(2, 1, 1, 0)) == [0.5, 0.25, 0.25, 0.0]
    assert shares(buckets(0, 0, 0, 0)) == [0.0] * 4
    assert bucket_labels(buckets(0, 0, 0, 0)) == ["≤ 10 ms", "≤ 100 ms", "≤ 1 s", "> 1 s"]


def test_an_interval_gives_throughput_errors_and_percentiles_per_route_or_all() -> None:
    before = snapshot(100.0, route("/a", (10, 0, 0, 0)), route("/b", (0, 0, 0, 0)))
    after = snapshot(
        110.0, route("/a", (30, 0, 0, 0), errors=2), route("/b", (0, 10, 0, 0)), route("/c", (0, 0, 5, 0))
    )
    a = interval(before, after, ("GET", "/a"))
    assert a is not None
    assert (a.requests, a.errors) == (20, 2)
    assert a.throughput == pytest.approx(2.0)
    assert a.error_rate == pytest.approx(0.1)
    assert a.percentile(0.99) == pytest.approx(0.0099)
    every = interval(before, after, None)
    assert every is not None
    assert every.requests == 35  # /c is new: all of its count happened in the interval
    assert every.latency == buckets(20, 10, 5, 0)
    quiet = interval(before, after, ("GET", "/missing"))
    assert quiet is not None
    assert quiet.error_rate is None
    assert quiet.percentile(0.5) is None
    restarted = snapshot(120.0, route("/a", (1, 0, 0, 0)))
    assert interval(after, restarted, None) is None


def test_the_history_keeps_recent_snapshots_and_builds_the_heat_map() -> None:
    history = History(keep=3)
    assert history.latest is None
    assert history.routes() == []
    for at, own in ((0.0, (0, 0, 0, 0)), (5.0, (4, 0, 0, 0)), (10.0, (4, 4, 0, 0)), (15.0, (4, 4, 0, 2))):
        history.add(snapshot(at, route("/a", own), route("/b", (1, 0, 0, 0), method="POST")))
    history.add(snapshot(15.0, route("/a", (0, 0, 0, 0))))  # the same moment again: ignored
    assert len(history.snapshots) == 3
    assert history.routes() == [("GET", "/a"), ("POST", "/b")]
    ends, labels, columns = history.heat_map(("GET", "/a"))
    assert ends == [10.0, 15.0]
    assert labels == ["≤ 10 ms", "≤ 100 ms", "≤ 1 s", "> 1 s"]
    assert columns == [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    throughput = [i.throughput for i in history.intervals(None)]
    assert throughput == pytest.approx([0.8, 0.4])
