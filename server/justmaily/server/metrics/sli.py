"""Service-level indicator events: each is good or bad for one objective.

Counted twice from one call: in Prometheus (`justmaily_sli_events_total`, which the generated
rules divide) and per minute in memory, which the ops domain stores so the server can answer
its own compliance (`GET /api/ops/slo`). The objectives and their thresholds are defined in
one file (ops/slos.toml); `configure` hands this module the thresholds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

from justmaily.server.metrics.instruments import SLI_EVENTS

AVAILABILITY: Final = "availability"  # a request answered without a server error
LATENCY: Final = "latency"  # a request answered within the threshold
ROOM_DELIVERY: Final = "room_delivery"  # an edit stored (and acknowledged) within the threshold
SEND_COMPLETION: Final = "send_completion"  # a delivery attempt that ended with a definite answer
TREE_HEAD_FRESHNESS: Final = "tree_head_freshness"  # a minute whose log entries were signed in time
KNOWN: Final = (AVAILABILITY, LATENCY, ROOM_DELIVERY, SEND_COMPLETION, TREE_HEAD_FRESHNESS)

# Until configured (tests that build no app, tools): the shipped file's thresholds.
_thresholds: dict[str, float] = {LATENCY: 0.1, ROOM_DELIVERY: 1.0, TREE_HEAD_FRESHNESS: 120.0}
# (slo, minute start) -> [good, total]; recorded and drained on the event loop's thread only.
_minutes: dict[tuple[str, int], list[int]] = {}
_counters: dict[tuple[str, bool], Any] = {}  # (slo, good) -> its counter (labels() locks each call)


def configure(thresholds: Mapping[str, float]) -> None:
    """The thresholds of the objectives that have one; every objective's series start at 0 (a
    rate over a series that does not exist yet is no rate at all)."""
    _thresholds.update(thresholds)
    for slo in KNOWN:
        SLI_EVENTS.labels(slo, "true")
        SLI_EVENTS.labels(slo, "false")


def threshold(slo: str) -> float:
    return _thresholds[slo]


def record(slo: str, good: bool, *, now: float | None = None) -> None:
    counter = _counters.get((slo, good))
    if counter is None:
        counter = _counters[(slo, good)] = SLI_EVENTS.labels(slo, "true" if good else "false")
    counter.inc()
    minute = int((time.time() if now is None else now) // 60) * 60
    counts = _minutes.get((slo, minute))
    if counts is None:
        counts = _minutes[(slo, minute)] = [0, 0]
    counts[0] += good
    counts[1] += 1


def record_duration(slo: str, seconds: float) -> None:
    """An event that is good when it took no longer than the objective's threshold."""
    record(slo, seconds <= _thresholds[slo])


def drain() -> list[tuple[str, int, int, int]]:
    """(slo, minute start as Unix seconds, good, total) counted since the last drain."""
    taken = [(slo, minute, good, total) for (slo, minute), (good, total) in _minutes.items()]
    _minutes.clear()
    return taken


def restore(rows: list[tuple[str, int, int, int]]) -> None:
    """Put back what `drain` took and could not be stored (counted again at the next drain)."""
    for slo, minute, good, total in rows:
        counts = _minutes.setdefault((slo, minute), [0, 0])
        counts[0] += good
        counts[1] += total
