"""What recipients and providers tell us about messages: opens, clicks, unsubscribes, bounces.

Everything here is reached without signing in (links in messages, provider webhooks), so each
entry point checks its token or signature first and records nothing for a forged one.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences import repository
from justmaily.server.db.base import utcnow
from justmaily.server.delivery.models import MessageEvent, Send
from justmaily.server.delivery.outbox import queue
from justmaily.server.delivery.outbox.queue import MessageRef
from justmaily.server.delivery.sends.deliverability import ComplaintLimit, check_complaints
from justmaily.server.engagement.webhooks.common import ProviderEvent
from justmaily.server.identity.models import Workspace
from justmaily.shared.audiences import SuppressionReason
from justmaily.shared.delivery import EventKind, EventSource

log = structlog.get_logger(__name__)


async def record(
    session: AsyncSession,
    ref: MessageRef,
    kind: EventKind,
    detail: str = "",
    *,
    source: EventSource = EventSource.TRACKING,
    machine: bool = False,
) -> None:
    session.add(
        MessageEvent(
            workspace_id=ref.workspace_id,
            send_id=ref.send_id,
            message_id=ref.outbox_id,
            contact_id=ref.contact_id,
            kind=kind,
            detail=detail[:2000],
            occurred_at=utcnow(),
            source=source,
            machine=machine,
        )
    )
    await session.flush()


async def click_target(session: AsyncSession, ref: MessageRef, link: int) -> str | None:
    links = await session.scalar(select(Send.links).where(Send.id == ref.send_id))
    if not links or not 0 <= link < len(links):
        return None
    return str(links[link])


async def unsubscribe_page_facts(session: AsyncSession, ref: MessageRef) -> tuple[str, str]:
    """The workspace's name and the address, masked, for the hosted unsubscribe page."""
    name = await session.scalar(select(Workspace.name).where(Workspace.id == ref.workspace_id))
    contact = await repository.get_contact(session, ref.workspace_id, ref.contact_id)
    return str(name or ""), mask(contact.email) if contact else "your address"


async def unsubscribe(session: AsyncSession, ref: MessageRef, how: str) -> None:
    contact = await repository.get_contact(session, ref.workspace_id, ref.contact_id)
    if contact is None:  # erased since: nothing left to unsubscribe
        return
    await repository.suppress(
        session,
        ref.workspace_id,
        contact.email_key,
        SuppressionReason.UNSUBSCRIBED,
        how,
        address=contact.email,
    )
    await record(session, ref, EventKind.UNSUBSCRIBED, how)


async def apply_provider_events(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    events: list[ProviderEvent],
    complaint_limit: ComplaintLimit | None = None,
) -> int:
    """Record bounces, complaints and deliveries; suppress hard bounces and complaints; pause a
    send whose complaints pass `complaint_limit` (delivery/sends/deliverability.py)."""
    recorded = 0
    complained: set[uuid.UUID] = set()
    for event in events:
        ref = await queue.by_message_id(session, workspace_id, event.message_id) if event.message_id else None
        key = await repository.email_key(session, workspace_id, event.address)
        if ref is None:
            ref = await _by_address(session, workspace_id, key)
        if event.kind in (EventKind.BOUNCED, EventKind.COMPLAINED, EventKind.UNSUBSCRIBED) and (
            event.permanent or event.kind is not EventKind.BOUNCED
        ):
            reason = {
                EventKind.BOUNCED: SuppressionReason.BOUNCED,
                EventKind.COMPLAINED: SuppressionReason.COMPLAINED,
                EventKind.UNSUBSCRIBED: SuppressionReason.UNSUBSCRIBED,
            }[event.kind]
            await repository.suppress(
                session,
                workspace_id,
                key,
                reason,
                f"{event.provider}: {event.detail}",
                address=event.address.strip(),
            )
        if ref is not None:
            await record(
                session,
                ref,
                event.kind,
                f"{event.provider}: {event.detail}",
                source=EventSource.WEBHOOK,
                machine=event.machine,
            )
            recorded += 1
            if event.kind is EventKind.COMPLAINED:
                complained.add(ref.send_id)
    if complained and complaint_limit is not None:
        await check_complaints(session, complained, complaint_limit)
    return recorded


async def _by_address(session: AsyncSession, workspace_id: uuid.UUID, key: str) -> MessageRef | None:
    """The latest message sent to this address, for events that carry no Message-ID."""
    contact = await repository.contact_by_key(session, workspace_id, key)
    return None if contact is None else await queue.latest_sent_to(session, contact.id)


def mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'•' * max(1, min(len(local) - 1, 6))}@{domain}"
