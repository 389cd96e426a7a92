"""Providers of the ops domain, from the app's services (services.py) by name."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.ops.retention_policy import RetentionFile
from justmaily.server.ops.service import OpsService, RetentionService
from justmaily.server.ops.slo import SloFile


def provide_ops(db_session: NamedDependency[AsyncSession], slos: NamedDependency[SloFile]) -> OpsService:
    return OpsService(db_session, slos)


def provide_retention(
    db_session: NamedDependency[AsyncSession], retention_policies: NamedDependency[RetentionFile]
) -> RetentionService:
    return RetentionService(db_session, retention_policies)
