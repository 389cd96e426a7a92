"""Double opt-in e-mails: a link that turns a pending contact into a subscribed one.

The sender sends them between campaign messages, through the workspace's relays and signed with
its first sending domain's DKIM keys. A failure is retried with backoff; a contact who never
confirms is never sent a campaign.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from datetime import timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences import repository
from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.delivery.domains import keys_of
from justmaily.server.delivery.link_tokens import LinkTokens, TokenKind
from justmaily.server.delivery.models import SendingDomain
from justmaily.server.delivery.transport.dkim import DkimSigner
from justmaily.server.delivery.transport.message import Envelope, compose, new_message_id
from justmaily.server.delivery.transport.relays import CircuitBreaker
from justmaily.server.delivery.transport.smtp import Outcome, RelayConnection
from justmaily.server.identity.models import Workspace
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.settings import Settings

log = structlog.get_logger(__name__)
_BATCH = 50
_MAX_ATTEMPTS = 8


class ConfirmationMailer:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        tokens: LinkTokens,
        secrets: SecretBox,
        connection_for: Callable[[uuid.UUID], tuple[RelayConnection, CircuitBreaker] | None],
    ) -> None:
        self.database, self.settings, self.tokens, self.secrets = database, settings, tokens, secrets
        self._connection_for = connection_for

    async def workspaces_due(self) -> set[uuid.UUID]:
        async with self.database.session(read_only=True) as session:
            return {p.workspace_id for p in await repository.due_confirmations(session, utcnow(), _BATCH)}

    async def send_due(self) -> int:
        """Send the confirmations that are due; returns how many went out."""
        async with self.database.session(read_only=True) as session:
            due = await repository.due_confirmations(session, utcnow(), _BATCH)
            senders = {w: await self._sender_of(session, w) for w in {p.workspace_id for p in due}}
        sent = 0
        for pending in due:
            sender = senders[pending.workspace_id]
            relay = self._connection_for(pending.workspace_id)
            if sender is None or relay is None:
                why = "no sending domain" if sender is None else "no relay available"
                await self._failed(pending, f"{why}: the confirmation waits")
                continue
            connection, breaker = relay
            name, address, signer = sender
            message = signer.sign(self._message(pending, name, address))
            result = await connection.transaction(address, pending.recipient.email, message, _nothing)
            if result.outcome is Outcome.SENT:
                breaker.succeeded()
                async with self.database.session() as session, session.begin():
                    await repository.confirmation_sent(session, pending.id, utcnow())
                sent += 1
                continue
            if result.outcome in (Outcome.RELAY_FAILED, Outcome.IN_DOUBT):
                breaker.failed(result.detail)
            await self._failed(pending, result.detail)
        return sent

    def _message(self, pending: repository.PendingConfirmation, name: str, address: str) -> bytes:
        link = f"{self.settings.public_url.rstrip('/')}/c/{self.tokens.issue(TokenKind.CONFIRM, pending.id)}"
        person = pending.recipient
        text = (
            f"Hello {person.name or 'there'},\n\n"
            f"please confirm that you want e-mails from {name}:\n\n{link}\n\n"
            "If you did not ask for this, ignore this message: you will get nothing else from us.\n"
        )
        page = (
            f"<p>Hello {html.escape(person.name or 'there')},</p>"
            f"<p>please confirm that you want e-mails from {html.escape(name)}:</p>"
            f'<p><a href="{html.escape(link)}">Yes, subscribe me</a></p>'
            "<p>If you did not ask for this, ignore this message: you will get nothing else from us.</p>"
        )
        return compose(
            Envelope(
                sender_name=name,
                sender_address=address,
                recipient_name=person.name,
                recipient_address=person.email,
                subject=f"Please confirm your subscription to {name}",
                text=text,
                html=f"<!DOCTYPE html><html><body>{page}</body></html>",
                message_id=new_message_id(address.rpartition("@")[2]),
                date=utcnow(),
                list_unsubscribe_url=None,
            )
        )

    async def _sender_of(
        self, session: AsyncSession, workspace_id: uuid.UUID
    ) -> tuple[str, str, DkimSigner] | None:
        domain = await session.scalar(
            select(SendingDomain)
            .where(SendingDomain.workspace_id == workspace_id)
            .order_by(SendingDomain.created_at)
        )
        if domain is None:
            return None
        name = await session.scalar(select(Workspace.name).where(Workspace.id == workspace_id))
        return str(name), f"confirm@{domain.domain}", DkimSigner(keys_of(domain, self.secrets))

    async def _failed(self, pending: repository.PendingConfirmation, error: str) -> None:
        attempts = pending.attempts + 1
        delay = timedelta(
            seconds=min(6 * 3600, self.settings.delivery.send_retry_seconds * 2 ** min(attempts, 16))
        )
        retry_at = utcnow() + (delay if attempts < _MAX_ATTEMPTS else timedelta(days=3650))
        async with self.database.session() as session, session.begin():
            await repository.confirmation_failed(session, pending.id, retry_at, error)
        log.warning("confirmation not sent", confirmation=str(pending.id), error=error, attempts=attempts)


async def _nothing() -> bool:
    """A confirmation is not in the outbox: nothing to record before DATA; go ahead."""
    return True
