"""The deliverability check a send runs while it goes out: complaints. Gmail asks bulk senders to
stay below a spam-complaint rate of 0.3 %; a send whose complaints pass it is paused (as a
person's pause, `SendService.pause`) with an alert saying why, and the owner is told by the
send's alert and an error in the log. It only judges once `min_delivered` messages went out, so
one complaint among the first ten does not stop a send.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.delivery.models import MessageEvent, OutboxMessage, Send
from justmaily.server.settings.model import DeliverySettings
from justmaily.shared.delivery import EventKind, MessageState, SendStatus

log = structlog.get_logger(__name__)

_RUNNING = (SendStatus.SENDING, SendStatus.SCHEDULED)


@dataclass(frozen=True, slots=True)
class ComplaintLimit:
    rate: float  # the share of delivered messages complained about that pauses a send
    min_delivered: int  # delivered messages before the rate is judged

    @classmethod
    def of(cls, settings: DeliverySettings) -> ComplaintLimit:
        return cls(settings.complaint_pause_rate, settings.complaint_min_delivered)


async def check_complaints(
    session: AsyncSession, send_ids: Iterable[uuid.UUID], limit: ComplaintLimit
) -> list[uuid.UUID]:
    """Pause each running send among `send_ids` whose complaint rate passed the limit; returns them."""
    paused: list[uuid.UUID] = []
    for send_id in sorted(set(send_ids)):
        status = await session.scalar(select(Send.status).where(Send.id == send_id))
        if status not in _RUNNING:
            continue
        delivered = int(
            await session.scalar(
                select(func.count()).where(
                    OutboxMessage.send_id == send_id, OutboxMessage.state == MessageState.SENT
                )
            )
            or 0
        )
        complained = int(
            await session.scalar(
                select(func.count(func.distinct(MessageEvent.contact_id))).where(
                    MessageEvent.send_id == send_id, MessageEvent.kind == EventKind.COMPLAINED
                )
            )
            or 0
        )
        if delivered < limit.min_delivered or complained / delivered <= limit.rate:
            continue
        alert = (
            f"paused: {complained} complaints in {delivered} delivered messages"
            f" ({complained / delivered:.2%}) passed the {limit.rate:.1%} limit mailbox providers"
            " set for bulk senders; check the content and the audience's consent, then resume or cancel"
        )
        # Only a send still running: no row lock taken earlier (the sender updates sends too), and
        # a send a person paused or cancelled meanwhile keeps what they chose.
        moved = await session.execute(
            update(Send)
            .where(Send.id == send_id, Send.status.in_(_RUNNING))
            .values(status=SendStatus.PAUSED, alert=alert)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            continue
        log.error("send_paused_complaints", send_id=str(send_id), complained=complained, delivered=delivered)
        paused.append(send_id)
    await session.flush()
    return paused
