"""Providers of the audiences domain's services, for the signed-in principal's workspace."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences.imports import ContactFiles
from justmaily.server.audiences.service import AudienceService
from justmaily.server.db.engine import Database
from justmaily.server.identity.principal import AuthedRequest


def provide_audiences(request: AuthedRequest, db_session: NamedDependency[AsyncSession]) -> AudienceService:
    return AudienceService(db_session, request.user.workspace_id)


def provide_files(request: AuthedRequest, database: NamedDependency[Database]) -> ContactFiles:
    return ContactFiles(database, request.user.workspace_id)
