"""HTTP handlers of analytics: a campaign's forecast for an audience."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter

from justmaily.server.analytics import deps, examples
from justmaily.server.analytics.service import ForecastService
from justmaily.server.http.openapi import ok, problems
from justmaily.server.http.policy import requires
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
