"""HTTP handlers of operations: `/metrics` for Prometheus (its own token, not a person's), the
server's own SLO compliance for owners and admins, retention policies and legal holds."""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.policy import public, requires
from justmaily.server.http.problems import ApiError
from justmaily.server.http.request_context import METRICS_PATH
from justmaily.server.identity.principal import AuthedRequest
from justmaily.server.metrics import exposition
from justmaily.server.ops import deps, performance
from justmaily.server.ops.service import OpsService, RetentionService
from justmaily.shared.ops import (
    Bucket,
    BurnRate,
    LegalHold,
    LegalHoldCreate,
    LogHealth,
    PerformanceSnapshot,
    RetentionPolicy,
    RetentionStatus,
    RoomHealth,
    RouteTraffic,
    SendingHealth,
    SloReport,
    SloStatus,
)
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

_PERFORMANCE_EXAMPLE = PerformanceSnapshot(
    taken_at=1_796_680_800.0,
    routes=[
        RouteTraffic(
            method="GET",
            route="/api/campaigns",
            requests=120,
            errors=1,
            latency=[Bucket(le=0.005, count=80), Bucket(le=0.1, count=118), Bucket(le=None, count=120)],
            latency_sum=1.9,
        )
    ],
    rooms=RoomHealth(connections=3, edits=410, store_failures=0, store_lag=[Bucket(le=None, count=410)]),
    sending=SendingHealth(
        messages={"sent": 980, "retry": 4}, outbox={"queued": 12, "in_doubt": 0}, open_breakers=[]
    ),
    db_pool={"idle": 4, "in_use": 1},
    log=LogHealth(entries=52, publish_lag_seconds=0.0),
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

    @get(
        "/performance",
        opt=requires(Permission.OPERATIONS_READ),
        responses=ok(PerformanceSnapshot, _PERFORMANCE_EXAMPLE) | problems(),
        summary="Requests, latency histograms and errors per route, rooms, sending, database pool and "
        "log, summed over this machine's workers; compare two snapshots for rates and percentiles",
        sync_to_thread=False,
    )
    def performance(self) -> PerformanceSnapshot:
        return performance.snapshot()


_HOLD = LegalHold(
    id=uuid.UUID("6f1c2d7e-0b7a-4a53-9a38-3b2e4d5c6a71"),
    reason="Litigation hold, case 2026-114",
    created_by=uuid.UUID("0b6f3c2a-5d4e-4f1a-8b7c-9d2e1f0a3b4c"),
    created_at=datetime(2026, 12, 7, 22, 0, tzinfo=UTC),
)
_RETENTION = RetentionStatus(
    policies=[
        RetentionPolicy(
            kind="tracking",
            days=180,
            description="Opens and clicks: what a person read and followed",
            purged_by="server",
            last_run_finished_at=datetime(2026, 12, 7, 3, 0, tzinfo=UTC),
            last_run_deleted=18_204,
        )
    ],
    holds=[_HOLD],
)


class RetentionController(Controller):
    path = "/api/retention"
    tags = ["operations"]
    dependencies = {"retention": Provide(deps.provide_retention, sync_to_thread=False)}

    @get(
        "/",
        opt=requires(Permission.LEGAL_HOLDS_MANAGE),
        responses=ok(RetentionStatus, _RETENTION) | problems(),
        summary="How long each kind of record is kept, the last purges, and this workspace's legal holds",
    )
    async def status(
        self, request: AuthedRequest, retention: NamedDependency[RetentionService]
    ) -> RetentionStatus:
        return await retention.status(request.user.workspace_id)

    @post(
        "/holds",
        opt=requires(Permission.LEGAL_HOLDS_MANAGE),
        responses=ok(LegalHold, _HOLD, 201) | problems(400),
        summary="Place a legal hold: nothing of this workspace is purged until it is released",
    )
    async def place(
        self,
        request: AuthedRequest,
        retention: NamedDependency[RetentionService],
        data: Annotated[LegalHoldCreate, body("place a hold", {"reason": "Litigation hold, case 2026-114"})],
    ) -> LegalHold:
        return await retention.place(request.user.workspace_id, request.user.id, data.reason)

    @delete(
        "/holds/{hold_id:uuid}",
        opt=requires(Permission.LEGAL_HOLDS_MANAGE),
        responses=problems(400, 404),
        summary="Release a legal hold (purges resume at the next daily run)",
    )
    async def release(
        self,
        request: AuthedRequest,
        retention: NamedDependency[RetentionService],
        hold_id: FromPath[uuid.UUID],
    ) -> None:
        await retention.release(request.user.workspace_id, hold_id, request.user.id)
