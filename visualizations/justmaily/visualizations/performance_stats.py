"""Rates, percentiles and heat-map columns from successive performance snapshots; no Qt.

The server's snapshot holds counts since it started (`justmaily.shared.ops.PerformanceSnapshot`).
What happened between two snapshots is their difference; a count that went down means the
server restarted in between, and that interval is left out rather than drawn as a negative.
Percentiles are estimated as Prometheus's `histogram_quantile` does: linearly within the bucket
the rank falls in, and the last finite bound when it falls in the unbounded one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from justmaily.shared.ops import Bucket, PerformanceSnapshot, RouteTraffic

PERCENTILES = (0.5, 0.95, 0.99)

# (method, route); None: every route together.
RouteKey = tuple[str, str]


def route_key(route: RouteTraffic) -> RouteKey:
    return route.method, route.route


def route_label(key: RouteKey | None) -> str:
    return "All routes" if key is None else f"{key[0]} {key[1]}"


def bucket_deltas(before: Sequence[Bucket], after: Sequence[Bucket]) -> list[Bucket] | None:
    """The cumulative buckets of what was observed between two histograms of the same bounds;
    None when a count went down (a restart) or the bounds differ."""
    if not before:
        return list(after)
    if [b.le for b in before] != [a.le for a in after]:
        return None
    deltas = [Bucket(le=a.le, count=a.count - b.count) for b, a in zip(before, after, strict=True)]
    return None if any(d.count < 0 for d in deltas) else deltas


def add_buckets(histograms: Iterable[Sequence[Bucket]]) -> list[Bucket]:
    """Histograms of the same bounds summed (routes together); others are left out."""
    total: list[Bucket] = []
    for buckets in histograms:
        if not total:
            total = list(buckets)
        elif [b.le for b in buckets] == [t.le for t in total]:
            total = [Bucket(le=t.le, count=t.count + b.count) for t, b in zip(total, buckets, strict=True)]
    return total


def percentile(buckets: Sequence[Bucket], q: float) -> float | None:
    """The q-quantile (0 < q < 1) in seconds of cumulative buckets; None with no observations."""
    if not buckets or buckets[-1].count <= 0:
        return None
    rank = q * buckets[-1].count
    lower_bound, lower_count = 0.0, 0
    for bucket in buckets:
        if bucket.count >= rank:
            if bucket.le is None:  # beyond every bound: the largest bound is all we know
                return lower_bound
            if bucket.count == lower_count:
                return bucket.le
            return lower_bound + (bucket.le - lower_bound) * (rank - lower_count) / (
                bucket.count - lower_count
            )
        if bucket.le is not None:
            lower_bound = bucket.le
        lower_count = bucket.count
    return lower_bound


def shares(buckets: Sequence[Bucket]) -> list[float]:
    """Each bucket's own share of the observations (not cumulative); zeros with none."""
    total = buckets[-1].count if buckets else 0
    own: list[float] = []
    previous = 0
    for bucket in buckets:
        own.append((bucket.count - previous) / total if total > 0 else 0.0)
        previous = bucket.count
    return own


def bucket_labels(buckets: Sequence[Bucket]) -> list[str]:
    """'≤ 5 ms', '≤ 1 s', …, '> 5 s' for the heat-map's rows."""
    labels = [f"≤ {seconds_text(b.le)}" for b in buckets if b.le is not None]
    finite = [b.le for b in buckets if b.le is not None]
    if buckets and buckets[-1].le is None:
        labels.append(f"> {seconds_text(finite[-1])}" if finite else "all")
    return labels


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds:.3g} s"


@dataclass(frozen=True)
class Interval:
    """What one route (or all) did between two snapshots."""

    start: float
    end: float
    requests: int
    errors: int
    latency: list[Bucket]  # cumulative, of this interval only

    @property
    def throughput(self) -> float:
        """Requests per second."""
        seconds = self.end - self.start
        return self.requests / seconds if seconds > 0 else 0.0

    @property
    def error_rate(self) -> float | None:
        """Share of 5xx answers; None without requests."""
        return self.errors / self.requests if self.requests else None

    def percentile(self, q: float) -> float | None:
        return percentile(self.latency, q)


def interval(
    before: PerformanceSnapshot, after: PerformanceSnapshot, key: RouteKey | None
) -> Interval | None:
    """The interval of one route (None: all routes); None when the server restarted in between."""
    earlier = {route_key(r): r for r in before.routes}
    requests = errors = 0
    histograms: list[list[Bucket]] = []
    for route in after.routes:
        if key is not None and route_key(route) != key:
            continue
        previous = earlier.get(route_key(route))
        latency = bucket_deltas(previous.latency if previous else [], route.latency)
        counted = (
            route.requests - (previous.requests if previous else 0),
            route.errors - (previous.errors if previous else 0),
        )
        if latency is None or min(counted) < 0:
            return None
        requests, errors = requests + counted[0], errors + counted[1]
        histograms.append(latency)
    return Interval(before.taken_at, after.taken_at, requests, errors, add_buckets(histograms))


class History:
    """The last `keep` snapshots, and the series the performance view draws from them."""

    def __init__(self, keep: int = 120) -> None:
        self.snapshots: deque[PerformanceSnapshot] = deque(maxlen=keep)

    def add(self, snapshot: PerformanceSnapshot) -> None:
        if self.snapshots and snapshot.taken_at <= self.snapshots[-1].taken_at:
            return  # the same or an older answer: nothing happened in between
        self.snapshots.append(snapshot)

    @property
    def latest(self) -> PerformanceSnapshot | None:
        return self.snapshots[-1] if self.snapshots else None

    def routes(self) -> list[RouteKey]:
        """The routes of the latest snapshot, the busiest first."""
        latest = self.latest
        if latest is None:
            return []
        return [route_key(r) for r in sorted(latest.routes, key=lambda r: (-r.requests, r.route, r.method))]

    def intervals(self, key: RouteKey | None) -> list[Interval]:
        pairs = zip(list(self.snapshots), list(self.snapshots)[1:], strict=False)
        found = (interval(before, after, key) for before, after in pairs)
        return [i for i in found if i is not None]

    def heat_map(self, key: RouteKey | None) -> tuple[list[float], list[str], list[list[float]]]:
        """Interval ends, bucket labels, and per interval each bucket's share of its requests
        (rows: intervals; intervals of other bounds or no requests are all zeros)."""
        intervals = self.intervals(key)
        bounds = next((i.latency for i in reversed(intervals) if i.latency), [])
        labels = bucket_labels(bounds)
        columns = [
            shares(i.latency) if [b.le for b in i.latency] == [b.le for b in bounds] else [0.0] * len(bounds)
            for i in intervals
        ]
        return [i.end for i in intervals], labels, columns
