"""A workspace's finished sends as the forecast learns them: audience, recipients, and how many
recipients opened (machine opens left out), clicked and unsubscribed -- its own sends and the
campaigns imported from other platforms, in the order they were sent."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.analytics.model import Outcome
from justmaily.server.analytics.models import ImportedCampaign
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


def _counted() -> ColumnElement[bool]:
    # Recipients who did it at least once; an open counts only when a person made it.
    return or_(
        and_(MessageEvent.kind == EventKind.OPENED, MessageEvent.machine.is_(False)),
        MessageEvent.kind.in_((EventKind.CLICKED, EventKind.UNSUBSCRIBED)),
    )


async def finished_sends(
    session: AsyncSession, workspace_id: uuid.UUID, limit: int = HISTORY_LIMIT
) -> list[Outcome]:
    """The latest `limit` finished sends with at least one recipient, oldest first."""
    timed = await _own_sends(session, workspace_id, limit) + await _imported(session, workspace_id, limit)
    timed.sort(key=lambda pair: pair[0])
    return [outcome for _, outcome in timed[-limit:]]


async def _own_sends(
    session: AsyncSession, workspace_id: uuid.UUID, limit: int
) -> list[tuple[datetime, Outcome]]:
    latest = (
        select(Send.id, Send.list_id, Send.segment_id, Send.finished_at, Send.send_at)
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
    counted = (
        select(MessageEvent.send_id, MessageEvent.kind, func.count(func.distinct(MessageEvent.message_id)))
        .where(MessageEvent.send_id.in_(ids), _counted())
        .group_by(MessageEvent.send_id, MessageEvent.kind)
    )
    counts: dict[uuid.UUID, dict[Metric, int]] = {}
    for send_id, kind, count in await session.execute(counted):
        if send_id is not None:
            counts.setdefault(send_id, {})[_METRIC_OF[kind]] = int(count)
    return [
        (
            row.finished_at or row.send_at,  # a finished send has its time; never sort None
            Outcome(audience_key(row.list_id, row.segment_id), sent[row.id], counts.get(row.id, {})),
        )
        for row in sends
        if sent.get(row.id)
    ]


async def _imported(
    session: AsyncSession, workspace_id: uuid.UUID, limit: int
) -> list[tuple[datetime, Outcome]]:
    """Campaigns of other platforms: recipients are the contacts the file says it was sent to
    (or, when it lists no `sent` events, every contact with an event of it)."""
    latest = (
        select(ImportedCampaign.id, ImportedCampaign.platform, ImportedCampaign.sent_at)
        .where(ImportedCampaign.workspace_id == workspace_id)
        .order_by(ImportedCampaign.sent_at.desc(), ImportedCampaign.id.desc())
        .limit(limit)
    )
    campaigns = list((await session.execute(latest)).all())
    if not campaigns:
        return []
    ids = [row.id for row in campaigns]
    by_kind = await session.execute(
        select(
            MessageEvent.imported_campaign_id,
            MessageEvent.kind,
            MessageEvent.machine,
            func.count(func.distinct(MessageEvent.contact_id)),
        )
        .where(MessageEvent.imported_campaign_id.in_(ids))
        .group_by(MessageEvent.imported_campaign_id, MessageEvent.kind, MessageEvent.machine)
    )
    anyone = await session.execute(
        select(MessageEvent.imported_campaign_id, func.count(func.distinct(MessageEvent.contact_id)))
        .where(MessageEvent.imported_campaign_id.in_(ids))
        .group_by(MessageEvent.imported_campaign_id)
    )
    reached: dict[uuid.UUID, int] = {
        campaign_id: int(count) for campaign_id, count in anyone if campaign_id is not None
    }
    sent: dict[uuid.UUID, int] = {}
    counts: dict[uuid.UUID, dict[Metric, int]] = {}
    for campaign_id, kind, machine, count in by_kind:
        if campaign_id is None:  # the query asked for these campaigns only
            continue
        if kind is EventKind.SENT:
            sent[campaign_id] = sent.get(campaign_id, 0) + int(count)
        elif kind in _METRIC_OF and not (kind is EventKind.OPENED and machine):
            counts.setdefault(campaign_id, {})[_METRIC_OF[kind]] = int(count)
    outcomes = []
    for row in campaigns:
        recipients = max(sent.get(row.id, 0), reached.get(row.id, 0))
        if recipients:
            outcomes.append(
                (row.sent_at, Outcome(f"imported:{row.platform}", recipients, counts.get(row.id, {})))
            )
    return outcomes
