"""Sends that must not start after all: their campaign's approval was voided.

`on_approval_voided` handles the campaigns domain's `ApprovalVoided` inside its transaction
(registered by the composition root), so a voided approval and the sends it cancels commit
together."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.delivery.models import Send
from justmaily.server.delivery.outbox import queue
from justmaily.server.events import ApprovalVoided
from justmaily.shared.delivery import SendStatus


async def cancel_unstarted_sends(session: AsyncSession, campaign_id: uuid.UUID, alert: str) -> int:
    """Cancel the campaign's sends that have not started (scheduled, or paused before starting)
    and any recipients already queued for them; returns how many sends."""
    unstarted = list(
        await session.scalars(
            select(Send.id).where(
                Send.campaign_id == campaign_id,
                Send.started_at.is_(None),
                Send.status.in_([SendStatus.SCHEDULED, SendStatus.PAUSED]),
            )
        )
    )
    if not unstarted:
        return 0
    await session.execute(
        update(Send)
        .where(Send.id.in_(unstarted))
        .values(status=SendStatus.CANCELLED, alert=alert[:2000], finished_at=utcnow())
    )
    await queue.cancel_waiting(session, unstarted)
    return len(unstarted)


async def on_approval_voided(session: AsyncSession, voided: ApprovalVoided) -> None:
    await cancel_unstarted_sends(
        session, voided.campaign_id, alert=f"cancelled: {voided.why}; approve and send again"
    )
