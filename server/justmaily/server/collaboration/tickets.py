"""Room tickets: short-lived, single-use passes that carry authentication into a WebSocket URL.

Stock y-websocket clients can only pass URL parameters, and URLs end up in logs: so the URL
carries a ticket good for one connection within a minute, never a token.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns.service import find
from justmaily.server.collaboration.models import UsedRoomTicket
from justmaily.server.db.base import utcnow
from justmaily.server.http.problems import ApiError
from justmaily.server.identity.auth import AuthService
from justmaily.server.identity.principal import Principal
from justmaily.server.identity.tokens import InvalidTokenError, TokenSigner
from justmaily.server.settings import Settings
from justmaily.shared.collaboration import RoomTicket
from justmaily.shared.roles import Permission


def is_read_only(principal: Principal) -> bool:
    return Permission.CAMPAIGNS_WRITE not in principal.permissions


def room_base_url(public_url: str) -> str:
    """The WebSocket form of the configured public address (never the request's Host header,
    which the client chooses: a ticket must not send its holder elsewhere)."""
    parts = urlsplit(public_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class TicketService:
    def __init__(self, session: AsyncSession, signer: TokenSigner, settings: Settings) -> None:
        self.session = session
        self.signer = signer
        self.ttl_seconds = settings.rooms.ticket_ttl_seconds
        self.ttl = timedelta(seconds=self.ttl_seconds)
        self.public_url = settings.public_url

    async def issue(self, principal: Principal, campaign_id: uuid.UUID) -> RoomTicket:
        """A ticket into the campaign's room, for a client to connect with within its lifetime."""
        await find(self.session, principal, campaign_id)
        ticket = self._token(principal, campaign_id)
        url = f"{room_base_url(self.public_url)}/api/campaigns/{campaign_id}/room?ticket={ticket}"
        return RoomTicket(
            ticket=ticket, url=url, expires_in=self.ttl_seconds, read_only=is_read_only(principal)
        )

    def _token(self, principal: Principal, campaign_id: uuid.UUID) -> str:
        token, _ = self.signer.issue(
            "room",
            principal.id,
            utcnow(),
            self.ttl,
            wsp=str(principal.workspace_id),
            cid=str(campaign_id),
            knd=principal.kind,
        )
        return token

    async def redeem(self, ticket: str | None, campaign_id: uuid.UUID, auth: AuthService) -> Principal:
        """The principal the ticket was issued to, as they are now. Each ticket works once."""
        if not ticket:
            raise ApiError(401, "bad_ticket", "connect with ?ticket=… from POST …/room-ticket")
        try:
            claims = self.signer.verify(ticket, "room")
            subject, workspace = uuid.UUID(claims["sub"]), uuid.UUID(claims["wsp"])
            ticket_id, ticket_campaign = uuid.UUID(claims["jti"]), uuid.UUID(claims["cid"])
        except (InvalidTokenError, KeyError, ValueError) as exc:
            raise ApiError(401, "bad_ticket", f"ticket refused: {exc}") from exc
        if ticket_campaign != campaign_id:
            raise ApiError(401, "bad_ticket", "ticket is for another room")
        try:
            async with self.session.begin_nested():
                self.session.add(UsedRoomTicket(id=ticket_id, expires_at=utcnow() + self.ttl))
        except IntegrityError as exc:
            raise ApiError(401, "bad_ticket", "ticket already used") from exc
        if claims.get("knd") == "api_key":
            return await auth.principal_for_api_key_id(subject, workspace)
        return await auth.principal_for_member(subject, workspace)
