"""The links inside sent messages: the open pixel, clicks, unsubscribing (`TrackingService`),
and the double opt-in link (`ConfirmationService`).

Each reads its HMAC-signed token (`delivery/link_tokens.py`) before it reads or records
anything; a bad token is a 404 and changes nothing. Reached without signing in, so they take
no request session: each opens the transactions it needs.
"""

from __future__ import annotations

import enum
import uuid
from datetime import timedelta

from justmaily.server.audiences import repository
from justmaily.server.audiences.repository import ConfirmationLink
from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.delivery.link_tokens import BadToken, LinkTokens, TokenKind
from justmaily.server.delivery.outbox.queue import MessageRef, message_ref
from justmaily.server.engagement import service as engagement
from justmaily.server.http.problems import not_found
from justmaily.shared.audiences import ConsentStatus
from justmaily.shared.delivery import EventKind


class TrackingService:
    def __init__(self, database: Database, tokens: LinkTokens) -> None:
        self.database, self.tokens = database, tokens

    async def ref(self, token: str, kind: TokenKind) -> tuple[MessageRef, int]:
        """The message a link of `kind` belongs to, and the link's number (clicks)."""
        try:
            data = self.tokens.read(token, kind)
        except BadToken:
            raise not_found("link") from None
        async with transaction(self.database, read_only=True) as session:
            ref = await message_ref(session, data.subject)
        if ref is None:
            raise not_found("link")
        return ref, data.link

    async def opened(self, token: str) -> None:
        ref, _ = await self.ref(token, TokenKind.OPEN)
        async with transaction(self.database) as session:
            await engagement.record(session, ref, EventKind.OPENED)

    async def clicked(self, token: str) -> str:
        """Where the link goes: only a link of the approved content, by its number in the token."""
        ref, link = await self.ref(token, TokenKind.CLICK)
        async with transaction(self.database) as session:
            target = await engagement.click_target(session, ref, link)
            if target is None:
                raise not_found("link")
            await engagement.record(session, ref, EventKind.CLICKED, target)
        return target

    async def unsubscribe_page(self, token: str) -> tuple[str, str]:
        """The workspace's name and the address, masked."""
        ref, _ = await self.ref(token, TokenKind.UNSUBSCRIBE)
        async with transaction(self.database, read_only=True) as session:
            return await engagement.unsubscribe_page_facts(session, ref)

    async def unsubscribe(self, ref: MessageRef, how: str) -> None:
        async with transaction(self.database) as session:
            await engagement.unsubscribe(session, ref, how)


class Renewal(enum.Enum):
    NOTHING_TO_CONFIRM = "nothing to confirm"
    STILL_VALID = "still valid"
    ON_ITS_WAY = "on its way"


class ConfirmationService:
    """A confirmation link works for `link_ttl` after its e-mail went out, while its contact is
    pending; an expired one can be renewed once."""

    def __init__(self, database: Database, tokens: LinkTokens, link_ttl: timedelta) -> None:
        self.database, self.tokens, self.link_ttl = database, tokens, link_ttl

    async def link(self, token: str) -> tuple[ConfirmationLink, bool]:
        """The link, and whether it has expired."""
        confirmation_id = self._confirmation(token)
        async with transaction(self.database, read_only=True) as session:
            link = await repository.confirmation_link(session, confirmation_id)
        if link is None:
            raise not_found("link")
        return link, self._expired(link)

    async def confirm(self, token: str) -> tuple[ConfirmationLink, bool, bool]:
        """The link, whether it has expired (then nothing changed), and whether it confirmed."""
        confirmation_id = self._confirmation(token)
        async with transaction(self.database) as session:
            link = await repository.confirmation_link(session, confirmation_id)
            if link is None:
                raise not_found("link")
            if self._expired(link):
                return link, True, False
            return link, False, await repository.confirm(session, confirmation_id)

    async def renew(self, token: str) -> tuple[ConfirmationLink, Renewal]:
        """Only for an expired link of a contact still pending, and once per link: the new e-mail
        goes to the same address, so the link's holder can get no more than a resend."""
        confirmation_id = self._confirmation(token)
        async with transaction(self.database) as session:
            link = await repository.confirmation_link(session, confirmation_id)
            if link is None:
                raise not_found("link")
            if link.contact.consent is not ConsentStatus.PENDING:
                return link, Renewal.NOTHING_TO_CONFIRM
            if not self._expired(link):
                return link, Renewal.STILL_VALID
            if not link.superseded:
                await repository.request_confirmation(session, link.workspace_id, link.contact.id)
        return link, Renewal.ON_ITS_WAY

    def _confirmation(self, token: str) -> uuid.UUID:
        try:
            return self.tokens.read(token, TokenKind.CONFIRM).subject
        except BadToken:
            raise not_found("link") from None

    def _expired(self, link: ConfirmationLink) -> bool:
        """Expiry matters only while there is something to confirm."""
        pending = link.contact.consent is ConsentStatus.PENDING
        return pending and link.issued_at + self.link_ttl <= utcnow()
