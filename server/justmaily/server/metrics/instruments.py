"""Every Prometheus instrument of the server, defined once.

They are module-level, as prometheus-client expects; `exposition.prepare_workers` must run before
this module is first imported where several workers share one machine (their values then live
in files that `/metrics` sums). Gauges say how their workers' values combine: `livesum` for
what each worker holds (connections), `mostrecent` for what any worker reads from the database.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Requests: seconds to the response's start, by route template (never the raw path: its ids
# would make a series per campaign).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)

HTTP_REQUESTS = Counter("justmaily_http_requests", "HTTP requests answered", ("method", "route", "status"))
HTTP_LATENCY = Histogram(
    "justmaily_http_request_duration_seconds",
    "Seconds from a request's arrival to its response's start",
    ("method", "route"),
    buckets=_LATENCY_BUCKETS,
)

ROOM_CONNECTIONS = Gauge("justmaily_room_connections", "Open room connections", multiprocess_mode="livesum")
ROOM_EDITS = Counter("justmaily_room_edits", "Edits received in rooms and stored")
ROOM_RELAY = Histogram(
    "justmaily_room_relay_seconds",
    "Seconds from an edit's arrival in its room to its hand-off to every peer's connection "
    "(the server's part of edit-to-peer latency)",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
)
ROOM_STORE_LAG = Histogram(
    "justmaily_room_store_lag_seconds",
    "Seconds from an edit's arrival to its storing (its 'stored' acknowledgement)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ROOM_STORE_FAILURES = Counter("justmaily_room_store_failures", "Edits a room could not store")

MESSAGES = Counter(
    "justmaily_messages",
    "Delivery attempts' outcomes (sent, failed, suppressed, retry, in_doubt)",
    ("outcome",),
)
OUTBOX = Gauge(
    "justmaily_outbox_messages",
    "Outbox messages by state (queued, sending, sent, failed, suppressed, cancelled, in_doubt)",
    ("state",),
    multiprocess_mode="mostrecent",
)
RELAY_BREAKER_OPEN = Gauge(
    "justmaily_relay_breaker_open",
    "1 while a relay's circuit breaker keeps messages from it",
    ("relay",),
    multiprocess_mode="max",
)

DB_POOL = Gauge(
    "justmaily_db_pool_connections",
    "Database connections of this worker's pool (in_use, idle)",
    ("state",),
    multiprocess_mode="livesum",
)

LOG_SIZE = Gauge("justmaily_log_entries", "Entries in the transparency log", multiprocess_mode="mostrecent")
LOG_PUBLISH_LAG = Gauge(
    "justmaily_log_publish_lag_seconds",
    "Seconds the oldest log entry no signed tree head covers yet has waited (0: every entry covered)",
    multiprocess_mode="mostrecent",
)

SLI_EVENTS = Counter(
    "justmaily_sli_events",
    "Service-level indicator events by objective (good: true or false); the SLO rules divide these",
    ("slo", "good"),
)

MESH_TASKS = Counter(
    "justmaily_mesh_tasks",
    "Analyses by agent kind and outcome: ok, failed (timeout, crash, garbage; retried or moved on), "
    "degraded (the in-process check answered), unavailable",
    ("kind", "outcome"),
)
MESH_TASK_SECONDS = Histogram(
    "justmaily_mesh_task_seconds",
    "Seconds an agent took to answer an analysis",
    ("kind",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
MESH_IN_FLIGHT = Gauge(
    "justmaily_mesh_tasks_in_flight",
    "Analyses running now (the engine's queue depth), by agent kind",
    ("kind",),
    multiprocess_mode="livesum",
)
MESH_AGENTS = Gauge(
    "justmaily_mesh_agents",
    "Agents by kind and status (healthy, degraded, down), as of their last heartbeat",
    ("kind", "status"),
    multiprocess_mode="livesum",
)
