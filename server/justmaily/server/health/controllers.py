"""Probes for orchestrators: live (the process answers), ready (the database answers, and the
transparency log is one this server can vouch for), startup."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency, Provide

from justmaily.server.health import deps
from justmaily.server.health.service import HealthService
from justmaily.server.http.openapi import ok, problems
from justmaily.server.http.policy import public
from justmaily.shared.health import HealthStatus

_UP = HealthStatus(status="ok")
_READY = HealthStatus(status="ok", checks={"database": "ok", "transparency_log": "ok"})
_NOT_READY = ok(
    HealthStatus,
    HealthStatus(status="unavailable", checks={"database": "unreachable", "transparency_log": "ok"}),
    503,
    "Not ready: a dependency is down, or the transparency log was tampered with",
)
_STARTING = ok(HealthStatus, HealthStatus(status="unavailable"), 503, "Still starting")


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    opt = public()
    dependencies = {"health": Provide(deps.provide_health, sync_to_thread=False)}

    @get("/live", responses=ok(HealthStatus, _UP) | problems(signed_in=False), summary="The process is up")
    async def live(self) -> HealthStatus:
        return HealthStatus(status="ok")

    @get(
        "/ready",
        responses=ok(HealthStatus, _READY) | _NOT_READY | problems(signed_in=False),
        summary="The database answers",
    )
    async def ready(self, health: NamedDependency[HealthService]) -> Response[HealthStatus]:
        checks = await health.readiness()
        ok = all(value == "ok" for value in checks.values())
        body = HealthStatus(status="ok" if ok else "unavailable", checks=checks)
        return Response(body, status_code=200 if ok else 503)

    @get(
        "/startup",
        responses=ok(HealthStatus, _UP) | _STARTING | problems(signed_in=False),
        summary="Start-up (migrations) finished",
    )
    async def startup(self, started: NamedDependency[bool]) -> Response[HealthStatus]:
        return Response(
            HealthStatus(status="ok" if started else "unavailable"), status_code=200 if started else 503
        )
