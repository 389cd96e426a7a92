"""Providers of the mesh's services, from the app's (services.py) by name."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.mesh.registry import Registry
from justmaily.server.settings import Settings


def provide_registry(
    db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> Registry:
    return Registry(db_session, settings.mesh.heartbeat_seconds)
