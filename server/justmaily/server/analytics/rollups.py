"""A send's engagement rolled up: in all, per A/B variant, and per hour or day (UTC).

Computed from message_events when asked, so it is as current as the last recorded event. Opens
count people: a recipient whose only opens were a privacy proxy's is `machine_opened` instead.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.delivery.models import MessageEvent, OutboxMessage, Send
from justmaily.server.http.problems import not_found
from justmaily.server.identity.principal import Principal
from justmaily.shared import analytics as wire
from justmaily.shared.delivery import EventKind, MessageState

Bucket = Literal["hour", "day"]
_FIELDS = {
    EventKind.DELIVERED: "delivered",
    EventKind.CLICKED: "clicked",
    EventKind.UNSUBSCRIBED: "unsubscribed",
    EventKind.BOUNCED: "bounced",
    EventKind.COMPLAINED: "complained",
}
_COUNTED = (EventKind.OPENED, *_FIELDS)


async def send_rollup(
    session: AsyncSession, principal: Principal, send_id: uuid.UUID, bucket: Bucket
) -> wire.SendRollup:
    send = await session.get(Send, send_id)
    if send is None or send.workspace_id != principal.workspace_id:
        raise not_found("send")
    sent_rows = await session.execute(
        select(OutboxMessage.variant, func.count())
        .where(OutboxMessage.send_id == send_id, OutboxMessage.state == MessageState.SENT)
        .group_by(OutboxMessage.variant)
    )
    sent: dict[int | None, int] = {variant: int(count) for variant, count in sent_rows}
    # One row per recipient, kind and machine flag: who did what, by variant.
    rows = await session.execute(
        select(OutboxMessage.variant, MessageEvent.kind, MessageEvent.machine, MessageEvent.message_id)
        .join(OutboxMessage, OutboxMessage.id == MessageEvent.message_id)
        .where(MessageEvent.send_id == send_id, MessageEvent.kind.in_(_COUNTED))
        .distinct()
    )
    did: dict[int | None, dict[str, set[uuid.UUID]]] = {}
    for variant, kind, machine, message_id in rows:
        if message_id is None:  # joined on it: never, but the column may be empty
            continue
        field = ("machine" if machine else "opened") if kind is EventKind.OPENED else _FIELDS[kind]
        did.setdefault(variant, {}).setdefault(field, set()).add(message_id)
    variants = sorted(set(sent) | set(did), key=lambda v: (v is not None, v or 0))
    counts = {variant: _counts(sent.get(variant, 0), did.get(variant, {})) for variant in variants}
    merged: dict[str, set[uuid.UUID]] = {}
    for found in did.values():
        for field, ids in found.items():
            merged.setdefault(field, set()).update(ids)
    return wire.SendRollup(
        send_id=send_id,
        bucket=bucket,
        total=_counts(sum(sent.values()), merged),
        variants=[wire.VariantRollup(variant=v, counts=counts[v]) for v in variants],
        buckets=await _buckets(session, send_id, bucket),
    )


def _counts(recipients: int, did: dict[str, set[uuid.UUID]]) -> wire.RollupCounts:
    human = did.get("opened", set())
    return wire.RollupCounts(
        recipients=recipients,
        delivered=len(did.get("delivered", ())),
        opened=len(human),
        machine_opened=len(did.get("machine", set()) - human),
        clicked=len(did.get("clicked", ())),
        unsubscribed=len(did.get("unsubscribed", ())),
        bounced=len(did.get("bounced", ())),
        complained=len(did.get("complained", ())),
    )


async def _buckets(session: AsyncSession, send_id: uuid.UUID, bucket: Bucket) -> list[wire.BucketRollup]:
    events = await session.execute(
        select(MessageEvent.kind, MessageEvent.machine, MessageEvent.occurred_at).where(
            MessageEvent.send_id == send_id,
            MessageEvent.kind.in_(_COUNTED),
            MessageEvent.kind != EventKind.DELIVERED,
        )
    )
    tally: dict[datetime, Counter[str]] = {}
    for kind, machine, occurred_at in events:
        start = occurred_at.replace(minute=0, second=0, microsecond=0)
        if bucket == "day":
            start = start.replace(hour=0)
        field = ("machine_opened" if machine else "opened") if kind is EventKind.OPENED else _FIELDS[kind]
        tally.setdefault(start, Counter())[field] += 1
    return [
        wire.BucketRollup(
            start=start,
            opened=found["opened"],
            machine_opened=found["machine_opened"],
            clicked=found["clicked"],
            unsubscribed=found["unsubscribed"],
            bounced=found["bounced"],
            complained=found["complained"],
        )
        for start, found in sorted(tally.items())
    ]
