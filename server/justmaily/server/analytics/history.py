"""A workspace's finished sends as the forecast learns them: audience, recipients, and how many
recipients opened (machine opens left out), clicked and unsubscribed."""

from __future__ import annotations

import uuid

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.analytics.model import Outcome
from justmaily.server.delivery.models import MessageEvent, OutboxMessage, Send
from justmaily.shared.analytics import Metric
from justmaily.shared.delivery import EventKind, MessageState, SendStatus

# The forecast replays this many of the latest finished sends: older ones weigh little in the
# means (model.HALF_LIFE) and the replay stays a few milliseconds.
HISTORY_LIMIT = 200

_METRIC_OF = {
    EventKind.OPENED: Metric.OPENS,
    EventKind.CLICKED: Metric.CLICKS,
    EventKind.UNSUBSCRIBED: Metric.UNSUBSCRIBES,
}


def audience_key(list_id: uuid.UUID | None, segment_id: uuid.UUID | None) -> str:
    if list_id is not None:
        return f"list:{list_id}"
    if segment_id is not None:
        return f"segment:{segment_id}"
    return "everyone"


async def finished_sends(
    session: AsyncSession, workspace_id: uuid.UUID, limit: int = HISTORY_LIMIT
) -> list[Outcome]:
    """The latest `limit` finished sends with at least one message sent, oldest first."""
    latest = (
        select(Send.id, Send.list_id, Send.segment_id, Send.finished_at)
        .where(Send.workspace_id == workspace_id, Send.status == SendStatus.DONE)
        .order_by(Send.finished_at.desc(), Send.id.desc())
        .limit(limit)
    )
    sends = list((await session.execute(latest)).all())
    if not sends:
        return []
    ids = [row.id for row in sends]
    sent_rows = await session.execute(
        select(OutboxMessage.send_id, func.count())
        .where(OutboxMessage.send_id.in_(ids), OutboxMessage.state == MessageState.SENT)
        .group_by(OutboxMessage.send_id)
    )
    sent: dict[uuid.UUID, int] = {send_id: int(count) for send_id, count in sent_rows}
    # Recipients who did it at least once; an open counts only when a person made it.
    counted = (
        select(MessageEvent.send_id, MessageEvent.kind, func.count(func.distinct(MessageEvent.message_id)))
        .where(
            MessageEvent.send_id.in_(ids),
            or_(
                and_(MessageEvent.kind == EventKind.OPENED, MessageEvent.machine.is_(False)),
                MessageEvent.kind.in_((EventKind.CLICKED, EventKind.UNSUBSCRIBED)),
            ),
        )
        .group_by(MessageEvent.send_id, MessageEvent.kind)
    )
    counts: dict[uuid.UUID, dict[Metric, int]] = {}
    for send_id, kind, count in await session.execute(counted):
        if send_id is not None:
            counts.setdefault(send_id, {})[_METRIC_OF[kind]] = int(count)
    return [
        Outcome(audience_key(row.list_id, row.segment_id), int(sent[row.id]), counts.get(row.id, {}))
        for row in reversed(sends)
        if sent.get(row.id)
    ]
