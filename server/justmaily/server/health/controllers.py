"""Probes for orchestrators: live (the process answers), ready (the database answers, and the
transparency log is one this server can vouch for), startup."""

from __future__ import annotations

import anyio
from litestar import Controller, Response, get
from litestar.datastructures import State
from sqlalchemy import text

from justmaily.server.db.engine import Database
from justmaily.server.http.openapi import ok, problems
from justmaily.server.http.policy import public
from justmaily.shared.health import HealthStatus

_DB_CHECK_SECONDS = 2.0
_UP = HealthStatus(status="ok")
_READY = HealthStatus(status="ok", checks={"database": "ok", "transparency_log": "ok"})
_NOT_READY = ok(
    HealthStatus,
    HealthStatus(status="unavailable", checks={"database": "unreachable", "transparency_log": "ok"}),
    503,
    "Not ready: a dependency is down, or the transparency log was tampered with",
)
_STARTING = ok(HealthStatus, HealthStatus(status="unavailable"), 503, "Still starting")


async def database_reachable(database: Database) -> bool:
    try:
        with anyio.fail_after(_DB_CHECK_SECONDS):
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    opt = public()

    @get("/live", responses=ok(HealthStatus, _UP) | problems(signed_in=False), summary="The process is up")
    async def live(self) -> HealthStatus:
        return HealthStatus(status="ok")

    @get(
        "/ready",
        responses=ok(HealthStatus, _READY) | _NOT_READY | problems(signed_in=False),
        summary="The database answers",
    )
    async def ready(self, state: State) -> Response[HealthStatus]:
        checks = {"database": "ok" if await database_reachable(state.database) else "unreachable"}
        if state.fanout is not None:  # replicas: hearing the others' edits is part of being ready
            checks["fanout"] = "ok" if state.fanout.listening else "connecting"
        if state.publisher is not None:  # a log found tampered with is an alarm (docs/trust.md)
            alert = state.publisher.alert
            checks["transparency_log"] = "ok" if alert is None else f"refusing to sign: {alert}"
        ok = all(value == "ok" for value in checks.values())
        body = HealthStatus(status="ok" if ok else "unavailable", checks=checks)
        return Response(body, status_code=200 if ok else 503)

    @get(
        "/startup",
        responses=ok(HealthStatus, _UP) | _STARTING | problems(signed_in=False),
        summary="Start-up (migrations) finished",
    )
    async def startup(self, state: State) -> Response[HealthStatus]:
        started = bool(getattr(state, "started", False))
        return Response(
            HealthStatus(status="ok" if started else "unavailable"), status_code=200 if started else 503
        )
