"""HTTP handlers of analytics: a campaign's forecast for an audience; imports of other platforms' events."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from litestar.response import ServerSentEvent
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.analytics import deps, examples, importing, live, rollups
from justmaily.server.analytics.imports import generic
from justmaily.server.analytics.service import ForecastService
from justmaily.server.db.engine import Database
from justmaily.server.http.openapi import ok, problems
from justmaily.server.http.policy import requires
from justmaily.server.identity.principal import AuthedRequest
from justmaily.shared import analytics as wire
from justmaily.shared.roles import Permission


class ForecastController(Controller):
    path = "/api/campaigns/{campaign_id:uuid}"
    tags = ["analytics"]
    dependencies = {"forecasts": Provide(deps.provide_forecasts, sync_to_thread=False)}

    @get(
        "/forecast",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.Forecast, examples.FORECAST) | problems(400, 404, 422),
        summary="Forecast opens, clicks and unsubscribes of sending the campaign to a list or segment",
    )
    async def forecast(
        self,
        forecasts: NamedDependency[ForecastService],
        campaign_id: FromPath[uuid.UUID],
        list_id: Annotated[uuid.UUID | None, QueryParameter(name="list", description="a list's id")] = None,
        segment_id: Annotated[
            uuid.UUID | None, QueryParameter(name="segment", description="a segment's id")
        ] = None,
    ) -> wire.Forecast:
        """Each rate (the share of recipients who do it at least once; opens by people, machine
        opens left out) with a 90 % interval recalibrated on the workspace's finished sends, and
        what it rests on: with no finished send, the public industry rates, and it says so
        (docs/analytics.md)."""
        return await forecasts.forecast(campaign_id, list_id, segment_id)


# Read whole, then checked whole: about 450,000 events of the generic CSV.
MAX_EVENT_IMPORT_BYTES = 32 * 1024 * 1024
_READERS = {"generic": generic.parse}


class EventImportsController(Controller):
    path = "/api/analytics/imports"
    tags = ["analytics"]

    @post(
        opt=requires(Permission.CONTACTS_WRITE),
        request_max_body_size=MAX_EVENT_IMPORT_BYTES,
        responses=ok(wire.EventImport, examples.EVENT_IMPORT, 201) | problems(400, 413, 422),
        summary="Import another platform's events (CSV body); answers the row-by-row report",
    )
    async def import_events(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        platform: Annotated[
            Literal["generic"], QueryParameter(description="the export's format (docs/analytics.md)")
        ] = "generic",
    ) -> wire.EventImport:
        """All of the file or nothing: a row that cannot be read refuses the file with every such
        row in `errors` (422). Events whose address is no contact are reported, not imported;
        importing the same file again adds nothing."""
        return await importing.import_events(
            db_session, request.user, platform, await request.body(), _READERS[platform]
        )

    @get(
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(list[wire.EventImport], [examples.EVENT_IMPORT]) | problems(400),
        summary="The workspace's latest event imports and their reports",
    )
    async def list_imports(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession]
    ) -> list[wire.EventImport]:
        return await importing.listing(db_session, request.user.workspace_id)


class SendRollupController(Controller):
    path = "/api/sends/{send_id:uuid}/rollup"
    tags = ["analytics"]

    @get(
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.SendRollup, examples.ROLLUP) | problems(400, 404),
        summary="A send's engagement: in all, per A/B variant, per hour or day",
    )
    async def send_rollup(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        send_id: FromPath[uuid.UUID],
        bucket: Annotated[
            Literal["hour", "day"], QueryParameter(description="the time buckets' length (UTC)")
        ] = "hour",
    ) -> wire.SendRollup:
        """Recipients who did each thing at least once (opens by people; recipients whose only
        opens were a privacy proxy's are `machine_opened`), and events per time bucket. As current
        as the last recorded event: computed when asked (docs/analytics.md)."""
        return await rollups.send_rollup(db_session, request.user, send_id, bucket)

    @get(
        "/stream",
        media_type="text/event-stream",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=problems(400, 404),
        summary="A send's rollup pushed as Server-Sent Events whenever its events change",
    )
    async def send_rollup_stream(
        self,
        request: AuthedRequest,
        database: NamedDependency[Database],
        send_id: FromPath[uuid.UUID],
        bucket: Annotated[
            Literal["hour", "day"], QueryParameter(description="the time buckets' length (UTC)")
        ] = "hour",
    ) -> ServerSentEvent:
        """`text/event-stream`: an `event: rollup` with the rollup (as `GET …/rollup` answers it)
        at once, then again within 2 s of each change to the send's events; a comment every 15 s
        while nothing happens (docs/analytics.md)."""
        start = await live.first(database, request.user, send_id, bucket)
        return ServerSentEvent(live.stream(database, request.user, send_id, bucket, start))
