"""Operations on the wire: the server's own SLO compliance (GET /api/ops/slo), its performance
snapshot (GET /api/ops/performance), retention policies and legal holds."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

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


class RetentionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    days: int
    description: str
    purged_by: str  # "server" (once a day, in batches) or "log platform"
    last_run_finished_at: datetime | None = None
    last_run_deleted: int | None = None
    running: bool = False  # a run is unfinished (in progress, or to be resumed after a crash)


class LegalHoldCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]


class LegalHold(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    reason: str
    created_by: uuid.UUID
    created_at: datetime
    released_at: datetime | None = None


class RetentionStatus(msgspec.Struct, frozen=True, kw_only=True):
    policies: list[RetentionPolicy]
    holds: list[LegalHold]  # this workspace's unreleased holds: while any exists, nothing of it is purged


# Performance (GET /api/ops/performance): counters and histograms as they stand, summed over the
# machine's workers. Counts only ever grow while a server runs, so the client takes the
# difference of two snapshots for rates, percentiles over an interval and the heat-map; a count
# smaller than before means the server restarted.


class Bucket(msgspec.Struct, frozen=True, kw_only=True):
    le: float | None  # upper bound in seconds; None for the last, unbounded one (+Inf)
    count: int  # cumulative: observations at most `le`


class RouteTraffic(msgspec.Struct, frozen=True, kw_only=True):
    method: str
    route: str  # the route template, never a raw path
    requests: int
    errors: int  # 5xx answers
    latency: list[Bucket]  # cumulative, ascending `le`, ending with the unbounded one
    latency_sum: float  # seconds, summed over every request


class RoomHealth(msgspec.Struct, frozen=True, kw_only=True):
    connections: int
    edits: int
    store_failures: int
    store_lag: list[Bucket]


class SendingHealth(msgspec.Struct, frozen=True, kw_only=True):
    messages: dict[str, int]  # delivery attempts by outcome (sent, failed, retry, in_doubt, …)
    outbox: dict[str, int]  # outbox messages by state, as last sampled
    open_breakers: list[str]  # relays whose circuit breaker is open


class LogHealth(msgspec.Struct, frozen=True, kw_only=True):
    entries: int
    publish_lag_seconds: float


class MeshHealth(msgspec.Struct, frozen=True, kw_only=True):
    agents: dict[str, int] = {}  # by status: healthy, degraded, down (every kind)
    tasks: dict[str, int] = {}  # by outcome: ok, failed, degraded, unavailable
    in_flight: int = 0  # analyses running now
    task_seconds: list[Bucket] = []  # how long agents took (cumulative, ascending `le`)


class PerformanceSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    taken_at: float  # seconds since the epoch, the server's clock
    routes: list[RouteTraffic]
    rooms: RoomHealth
    sending: SendingHealth
    db_pool: dict[str, int]  # in_use, idle
    log: LogHealth
    mesh: MeshHealth = msgspec.field(default_factory=MeshHealth)  # OpenAPI hashes defaults
