"""A campaign's forecast for a list or segment: its audience's size now, the workspace's finished
sends replayed through the model (model.py), and what the forecast rests on, in words."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.analytics import history
from justmaily.server.analytics.model import Forecaster, Interval
from justmaily.server.analytics.priors import ANCHORS
from justmaily.server.audiences import repository
from justmaily.server.audiences.service import AudienceService, segment_where
from justmaily.server.campaigns.service import find
from justmaily.server.db.base import utcnow
from justmaily.server.http.problems import ApiError
from justmaily.server.identity.principal import Principal
from justmaily.shared import analytics as wire
from justmaily.shared.analytics import Metric
from justmaily.shared.problems import FieldError


class ForecastService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    async def forecast(
        self, campaign_id: uuid.UUID, list_id: uuid.UUID | None, segment_id: uuid.UUID | None
    ) -> wire.Forecast:
        await find(self.session, self.principal, campaign_id)
        workspace_id = self.principal.workspace_id
        if (list_id is None) == (segment_id is None):
            message = "choose exactly one audience: list or segment"
            raise ApiError(
                422, "invalid_audience", message, errors=[FieldError(field="list", message=message)]
            )
        if list_id is not None:
            await AudienceService(self.session, workspace_id).contact_list(list_id)
            size = await repository.audience_size(self.session, workspace_id, list_id=list_id, where=None)
        else:
            assert segment_id is not None
            where = await segment_where(self.session, workspace_id, segment_id, utcnow())
            size = await repository.audience_size(self.session, workspace_id, list_id=None, where=where)
        if size == 0:
            raise ApiError(
                422, "empty_audience", "the audience has no contacts who can be sent to: nothing to forecast"
            )
        audience = history.audience_key(list_id, segment_id)
        forecaster = Forecaster()
        forecaster.observe_all(await history.finished_sends(self.session, workspace_id))
        rates = {metric: forecaster.forecast(metric, audience, size) for metric in Metric}
        return wire.Forecast(
            campaign_id=campaign_id,
            audience=audience,
            recipients=size,
            opens=_wire(rates[Metric.OPENS]),
            clicks=_wire(rates[Metric.CLICKS]),
            unsubscribes=_wire(rates[Metric.UNSUBSCRIBES]),
            basis=_basis(forecaster, audience, size),
        )


def _wire(interval: Interval) -> wire.RateForecast:
    return wire.RateForecast(
        estimate=round(interval.estimate, 6),
        low=round(interval.low, 6),
        high=round(interval.high, 6),
        level=interval.level,
    )


def _basis(forecaster: Forecaster, audience: str, size: int) -> wire.ForecastBasis:
    source = forecaster.predict(Metric.OPENS, audience, size).basis
    own_sends, own_recipients = forecaster.audience_history(audience)
    calibration = forecaster.calibration_sends(Metric.OPENS)
    if source == "industry":
        note = f"no finished send yet: public industry rates ({ANCHORS[Metric.OPENS].source})"
    elif source == "workspace":
        note = (
            f"no finished send to this audience yet: the workspace's {forecaster.sends} sends to other"
            " audiences, widened by how much audiences differ"
        )
    else:
        note = (
            f"{own_sends} finished sends to this audience, shrunk toward the workspace's"
            f" {forecaster.sends} sends"
        )
    return wire.ForecastBasis(
        source=source,
        campaigns=forecaster.sends,
        recipients=forecaster.recipients,
        audience_campaigns=own_sends,
        audience_recipients=own_recipients,
        calibration_sends=calibration,
        note=note + f"; intervals recalibrated on {calibration} finished sends' outcomes",
    )
