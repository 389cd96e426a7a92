"""Providers of the collaboration domain's services, from the app's (services.py) by name."""

from __future__ import annotations

from litestar.di import NamedDependency

from justmaily.server.collaboration.rooms import RoomManager
from justmaily.server.collaboration.service import ContentService, VersionService
from justmaily.server.db.engine import Database


def provide_content(
    database: NamedDependency[Database], rooms: NamedDependency[RoomManager]
) -> ContentService:
    """Also the campaigns domain's `document` (campaigns/ports.py), bound by the composition root."""
    return ContentService(database, rooms)


def provide_versions(
    database: NamedDependency[Database], rooms: NamedDependency[RoomManager]
) -> VersionService:
    return VersionService(ContentService(database, rooms))
