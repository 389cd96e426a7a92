"""The way into a campaign's room: a WebSocket's ticket redeemed (each works once), then the
connection served by the room until either side ends it.

A refused ticket closes the socket with a documented code (justmaily.shared.collaboration
.CloseCode): `BAD_TICKET`, or `NO_SUCH_ROOM` when the campaign is not the principal's to see."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from litestar import WebSocket

from justmaily.server.campaigns.service import find
from justmaily.server.collaboration.connection import Connection, ConnectionLimits
from justmaily.server.collaboration.rooms import RoomManager
from justmaily.server.collaboration.tickets import TicketService, is_read_only
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.http.problems import ApiError
from justmaily.server.http.rate_limit import RateLimiter, rates
from justmaily.server.identity.auth import AuthService
from justmaily.server.identity.principal import Principal
from justmaily.server.identity.tokens import TokenSigner
from justmaily.server.settings import Settings
from justmaily.shared.collaboration import CloseCode

log = structlog.get_logger(__name__)


class RoomEntrance:
    def __init__(
        self,
        database: Database,
        signer: TokenSigner,
        settings: Settings,
        limiter: RateLimiter,
        rooms: RoomManager,
    ) -> None:
        self.database, self.signer, self.settings, self.limiter = database, signer, settings, limiter
        self.rooms = rooms
        room = settings.rooms
        self.limits = ConnectionLimits(
            room.max_message_bytes, rates(room.message_rate), room.silent_seconds, room.max_document_bytes
        )

    async def enter(
        self,
        socket: WebSocket[Any, Any, Any],
        campaign_id: uuid.UUID,
        ticket: str | None,
        *,
        wants_acks: bool,
    ) -> None:
        await socket.accept()
        try:
            principal = await self._admit(ticket, campaign_id)
        except ApiError as exc:
            code = CloseCode.NO_SUCH_ROOM if exc.status == 404 else CloseCode.BAD_TICKET
            log.info("room_refused", campaign=str(campaign_id), code=int(code), reason=exc.detail)
            await socket.close(code=int(code), reason=exc.detail[:120])
            return
        room = await self.rooms.acquire(campaign_id, principal.workspace_id)
        connection = Connection(
            socket, principal, room, self.limits, read_only=is_read_only(principal), wants_acks=wants_acks
        )
        try:
            await room.serve(connection)
        finally:
            await self.rooms.release(room)
            await connection.close(CloseCode.GOING_AWAY, "bye")

    async def _admit(self, ticket: str | None, campaign_id: uuid.UUID) -> Principal:
        """The principal the ticket was issued to, as they are now, if they still see the campaign."""
        async with transaction(self.database) as session:
            auth = AuthService(session, self.signer, self.settings.identity, self.limiter)
            principal = await TicketService(session, self.signer, self.settings).redeem(
                ticket, campaign_id, auth
            )
            await find(session, principal, campaign_id)
        return principal
