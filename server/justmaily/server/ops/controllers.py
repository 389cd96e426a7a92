"""HTTP handlers of operations: `/metrics` for Prometheus (its own token, not a person's), and
the server's own SLO compliance for owners and admins."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide

from justmaily.server.http.openapi import ok, problems
from justmaily.server.http.policy import public, requires
from justmaily.server.http.problems import ApiError
from justmaily.server.http.request_context import METRICS_PATH
from justmaily.server.metrics import exposition
from justmaily.server.ops import deps
from justmaily.server.ops.service import OpsService
from justmaily.shared.ops import BurnRate, SloReport, SloStatus
from justmaily.shared.roles import Permission

_EXAMPLE = SloReport(
    generated_at="2026-12-07T22:00:00Z",
    objectives=[
        SloStatus(
            name="latency",
            description="Requests (not server errors) answered within 100 ms",
            objective=0.99,
            threshold_seconds=0.1,
            window_days=30,
            good=1_234_000,
            total=1_236_000,
            compliance=0.99838,
            budget_remaining=0.838,
            burn_rates=[BurnRate(window="1h", rate=0.4), BurnRate(window="5m", rate=0.0)],
            alerts=[],
        )
    ],
)


class MetricsController(Controller):
    path = METRICS_PATH
    tags = ["operations"]
    opt = public()  # not a person's route: the scrape token is checked here

    @get(
        "/",
        media_type=exposition.CONTENT_TYPE,
        responses=problems(401, signed_in=False),
        summary="Prometheus metrics, for the scrape token only (Authorization: Bearer <token>), not people",
    )
    async def metrics(
        self, request: Request[Any, Any, Any], metrics_token: NamedDependency[str]
    ) -> Response[bytes]:
        presented = request.headers.get("authorization", "")
        scheme, _, token = presented.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), metrics_token.encode()
        ):
            raise ApiError(
                401,
                "metrics_token_required",
                "Scraping /metrics needs the scrape token: Authorization: Bearer <token> "
                "(the file JUSTMAILY_METRICS_TOKEN_FILE names; default data_dir/metrics.token)",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return Response(exposition.render(), media_type=exposition.CONTENT_TYPE)


class OpsController(Controller):
    path = "/api/ops"
    tags = ["operations"]
    dependencies = {"ops": Provide(deps.provide_ops, sync_to_thread=False)}

    @get(
        "/slo",
        opt=requires(Permission.OPERATIONS_READ),
        responses=ok(SloReport, _EXAMPLE) | problems(),
        summary="Compliance, error budget, burn rates and firing alerts of every service-level objective",
    )
    async def slo(self, ops: NamedDependency[OpsService]) -> SloReport:
        return await ops.slo_report()
