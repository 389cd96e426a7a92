"""A request id on every response and log line, and one structured access-log line per request.

The id lives in the ASGI scope, not only in a context variable: Litestar answers routing errors
and exceptions raised by middleware outside any route middleware, and those responses must
carry the same id as the log lines of the request.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, cast

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from justmaily.server.http.policy import SLOW_BY_DESIGN
from justmaily.server.logging import redact_url_secrets
from justmaily.server.metrics import sli
from justmaily.server.metrics.instruments import HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = "x-request-id"
METRICS_PATH = "/metrics"
_SCOPE_KEY = "justmaily.request_id"
_STARTED_KEY = "justmaily.started"
# A caller's own id is kept when it is short and plain, so traces join up across services.
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

access_log = structlog.get_logger("justmaily.access")
_series: dict[
    tuple[str, str, int], tuple[Any, Any]
] = {}  # (method, route, status) -> its counter and histogram


def request_id_of(scope: Scope) -> str:
    """The request's id, assigned on first use: the caller's X-Request-ID if sane, else a new one."""
    slots = cast("dict[str, Any]", scope)  # our own keys beside the ASGI ones
    existing = slots.get(_SCOPE_KEY)
    if isinstance(existing, str):
        return existing
    request_id = uuid.uuid4().hex
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if _ACCEPTABLE_ID.match(candidate):
                request_id = candidate
            break
    slots[_SCOPE_KEY] = request_id
    slots.setdefault(_STARTED_KEY, time.perf_counter())
    return request_id


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    """Binds the request id to every log line written while the route handles the request."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        with structlog.contextvars.bound_contextvars(request_id=request_id_of(scope)):
            await app(scope, receive, send)

    return middleware


async def stamp_response(message: Message, scope: Scope) -> None:
    """App-level before_send hook: adds the id header, writes the access-log line and counts the
    request (metrics and the availability and latency indicators)."""
    if message["type"] not in ("http.response.start", "websocket.accept"):
        return
    request_id = request_id_of(scope)
    headers = list(message.get("headers", ()))
    headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
    message["headers"] = headers
    started = cast("dict[str, Any]", scope).get(_STARTED_KEY)
    seconds = time.perf_counter() - started if isinstance(started, float) else None
    status = cast("int", message.get("status", 101))
    user = scope.get("user")
    access_log.info(
        "request",
        request_id=request_id,
        method=scope.get("method", "WEBSOCKET"),
        path=redact_url_secrets(scope["path"]),
        status=status,
        duration_ms=round(seconds * 1000, 2) if seconds is not None else None,
        principal=str(user.id) if user is not None and hasattr(user, "id") else None,
    )
    if message["type"] == "http.response.start" and seconds is not None:
        _count(scope, status, seconds)


def _count(scope: Scope, status: int, seconds: float) -> None:
    # The route's template, not its path: ids in paths would make a series per campaign.
    route = cast("dict[str, Any]", scope).get("path_template") or "unmatched"
    method = str(scope.get("method", "GET"))
    key = (method, route, status)
    series = _series.get(key)
    if series is None:  # `labels()` checks and locks on every call: once per series is enough
        series = _series[key] = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_LATENCY.labels(method, route),
        )
    series[0].inc()
    series[1].observe(seconds)
    if route == METRICS_PATH:
        return  # the scraper's own requests are not the service users get
    sli.record(sli.AVAILABILITY, status < 500)
    handler = scope.get("route_handler")
    slow_by_design = handler is not None and bool(getattr(handler, "opt", {}).get(SLOW_BY_DESIGN))
    if status < 500 and not slow_by_design:
        sli.record_duration(sli.LATENCY, seconds)
