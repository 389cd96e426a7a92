"""Providers of the collaboration domain's services, from the app's (services.py) by name."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.collaboration.entrance import RoomEntrance
from justmaily.server.collaboration.rooms import RoomManager
from justmaily.server.collaboration.service import ContentService, VersionService
from justmaily.server.collaboration.tickets import TicketService
from justmaily.server.db.engine import Database
from justmaily.server.http.rate_limit import RateLimiter
from justmaily.server.identity.tokens import TokenSigner
from justmaily.server.settings import Settings


def provide_content(
    database: NamedDependency[Database], rooms: NamedDependency[RoomManager]
) -> ContentService:
    return ContentService(database, rooms)


def provide_versions(
    database: NamedDependency[Database], rooms: NamedDependency[RoomManager]
) -> VersionService:
    return VersionService(ContentService(database, rooms))


def provide_tickets(
    db_session: NamedDependency[AsyncSession],
    signer: NamedDependency[TokenSigner],
    settings: NamedDependency[Settings],
) -> TicketService:
    return TicketService(db_session, signer, settings)


def provide_entrance(
    database: NamedDependency[Database],
    signer: NamedDependency[TokenSigner],
    settings: NamedDependency[Settings],
    limiter: NamedDependency[RateLimiter],
    rooms: NamedDependency[RoomManager],
) -> RoomEntrance:
    return RoomEntrance(database, signer, settings, limiter, rooms)
