"""The performance snapshot for the desktop's admin view: the same instruments `/metrics` exposes
(summed over the machine's workers), read into the wire's Structs instead of Prometheus text."""

from __future__ import annotations

import math
import time
from collections import defaultdict

from justmaily.server.metrics import exposition
from justmaily.shared.ops import (
    Bucket,
    LogHealth,
    MeshHealth,
    PerformanceSnapshot,
    RoomHealth,
    RouteTraffic,
    SendingHealth,
)

# Some of a sample's labels as a hashable key; every sample by its name, with labels and value.
Labels = tuple[tuple[str, str], ...]
Samples = dict[str, list[tuple[dict[str, str], float]]]


def snapshot(now: float | None = None) -> PerformanceSnapshot:
    samples: Samples = defaultdict(list)
    for family in exposition.collect():
        for sample in family.samples:
            samples[sample.name].append((dict(sample.labels), float(sample.value)))
    return build(samples, time.time() if now is None else now)


def build(samples: Samples, now: float) -> PerformanceSnapshot:
    return PerformanceSnapshot(
        taken_at=now,
        routes=_routes(samples),
        rooms=RoomHealth(
            connections=_int(_total(samples, "justmaily_room_connections")),
            edits=_int(_total(samples, "justmaily_room_edits_total")),
            store_failures=_int(_total(samples, "justmaily_room_store_failures_total")),
            store_lag=_buckets(samples["justmaily_room_store_lag_seconds_bucket"]).get((), []),
        ),
        sending=SendingHealth(
            messages=_by(samples, "justmaily_messages_total", "outcome"),
            outbox=_by(samples, "justmaily_outbox_messages", "state"),
            open_breakers=sorted(
                labels["relay"]
                for labels, value in samples["justmaily_relay_breaker_open"]
                if value >= 1 and "relay" in labels
            ),
        ),
        db_pool=_by(samples, "justmaily_db_pool_connections", "state"),
        log=LogHealth(
            entries=_int(_total(samples, "justmaily_log_entries")),
            publish_lag_seconds=_total(samples, "justmaily_log_publish_lag_seconds"),
        ),
        mesh=MeshHealth(
            agents=_by(samples, "justmaily_mesh_agents", "status"),
            tasks=_by(samples, "justmaily_mesh_tasks_total", "outcome"),
            in_flight=_int(_total(samples, "justmaily_mesh_tasks_in_flight")),
            task_seconds=_buckets(samples["justmaily_mesh_task_seconds_bucket"]).get((), []),
        ),
    )


def _routes(samples: Samples) -> list[RouteTraffic]:
    requests: dict[tuple[str, str], float] = defaultdict(float)
    errors: dict[tuple[str, str], float] = defaultdict(float)
    for labels, value in samples["justmaily_http_requests_total"]:
        key = (labels.get("method", ""), labels.get("route", ""))
        requests[key] += value
        if labels.get("status", "").startswith("5"):
            errors[key] += value
    latency = _buckets(samples["justmaily_http_request_duration_seconds_bucket"], ("method", "route"))
    sums = {
        (labels.get("method", ""), labels.get("route", "")): value
        for labels, value in samples["justmaily_http_request_duration_seconds_sum"]
    }
    keys = sorted(set(requests) | {(dict(key)["method"], dict(key)["route"]) for key in latency})
    return [
        RouteTraffic(
            method=method,
            route=route,
            requests=_int(requests.get((method, route), 0.0)),
            errors=_int(errors.get((method, route), 0.0)),
            latency=latency.get((("method", method), ("route", route)), []),
            latency_sum=sums.get((method, route), 0.0),
        )
        for method, route in keys
    ]


def _buckets(
    rows: list[tuple[dict[str, str], float]], keep: tuple[str, ...] = ()
) -> dict[Labels, list[Bucket]]:
    """Histogram `_bucket` samples grouped by the labels in `keep`, ascending `le`."""
    grouped: dict[Labels, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for labels, value in rows:
        key = tuple((name, labels.get(name, "")) for name in keep)
        grouped[key][float(labels["le"])] += value
    return {
        key: [
            Bucket(le=le if math.isfinite(le) else None, count=_int(count))
            for le, count in sorted(bounds.items())
        ]
        for key, bounds in grouped.items()
    }


def _total(samples: Samples, name: str) -> float:
    return sum(value for _labels, value in samples[name])


def _by(samples: Samples, name: str, label: str) -> dict[str, int]:
    counted: dict[str, float] = defaultdict(float)
    for labels, value in samples[name]:
        if label in labels:
            counted[labels[label]] += value
    return {key: _int(value) for key, value in sorted(counted.items())}


def _int(value: float) -> int:
    return round(value) if math.isfinite(value) else 0
