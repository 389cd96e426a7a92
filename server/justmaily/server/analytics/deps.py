"""Providers of the analytics domain's services."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.analytics.service import ForecastService
from justmaily.server.identity.principal import AuthedRequest


def provide_forecasts(request: AuthedRequest, db_session: NamedDependency[AsyncSession]) -> ForecastService:
    return ForecastService(db_session, request.user)
