"""The outbox's rows, apart from the changes `writer.py` stores: queueing a send's recipients,
claiming what is due, recovering after a crash, and what the rest of delivery reads or changes.

Claims live in memory (one sending process per database: `leader.py`): a claimed message is
"in flight" until a claim after its change was stored no longer sees it queued.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import ColumnElement, SQLColumnExpression, and_, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences import repository
from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.delivery.models import MessageEvent, OutboxMessage, Send
from justmaily.server.delivery.outbox.writer import Job
from justmaily.server.delivery.transport.message import new_message_id
from justmaily.shared.delivery import EventKind, MessageState

log = structlog.get_logger(__name__)

CLAIM_BATCH = 500
_QUEUE_BATCH = 2000
# What a send still has to do: it is done once none of its messages is in one of these.
_BUSY = (MessageState.QUEUED, MessageState.SENDING, MessageState.HELD)


class Draw(Protocol):
    """An A/B test's draw of its sample (sends/ab_testing.py `Sampler`)."""

    def take(self, contact_id: uuid.UUID) -> int | None:
        """The subject this contact gets in the sample, or None: held for the winner."""


class OutboxQueue:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._inflight: set[uuid.UUID] = set()  # claimed, and their change not yet seen by a claim
        self._settled: list[uuid.UUID] = []

    def forget_claims(self) -> None:
        """A fresh start (a new run of the sender): a failed run's claims were never settled."""
        self._inflight, self._settled = set(), []

    def settled(self, ids: Iterable[uuid.UUID]) -> None:
        # Not removed from `_inflight` here: a claim query running now may have read these rows
        # before their change was committed. The next claim removes them before it queries.
        self._settled.extend(ids)

    async def recover(self) -> int:
        """Messages handed to a relay when the last sender died may be out: send them again."""
        async with self.database.session() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.state == MessageState.SENDING)
                .values(
                    state=MessageState.QUEUED,
                    in_doubt=True,
                    last_error="in doubt after a restart: the relay may have it; sent again",
                )
            )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.warning("messages in doubt after a restart are sent again", messages=count)
        return count

    async def queue(
        self,
        send: Send,
        domain: str,
        where: Any,
        sampler: Draw | None,
    ) -> None:
        """One row per recipient of the send, in batches; a crash half-way resumes where it was
        (after the last contact queued). `where`: the segment's filter; `sampler`: an A/B test's
        draw (the rest of the audience is held for the winner)."""
        async with self.database.session(read_only=True) as session:
            # The last contact queued (PostgreSQL has no max() of uuid; the unique index serves this).
            after = await session.scalar(
                select(OutboxMessage.contact_id)
                .where(OutboxMessage.send_id == send.id)
                .order_by(OutboxMessage.contact_id.desc())
                .limit(1)
            )
        while True:
            async with self.database.session() as session, session.begin():
                ids = await repository.audience_page(
                    session,
                    send.workspace_id,
                    list_id=send.list_id,
                    where=where,
                    after=after,
                    limit=_QUEUE_BATCH,
                )
                if not ids:
                    return
                now = utcnow()
                for contact_id in ids:
                    variant = None if sampler is None else sampler.take(contact_id)
                    session.add(
                        OutboxMessage(
                            send_id=send.id,
                            contact_id=contact_id,
                            message_id=new_message_id(domain),
                            next_attempt_at=now,
                            variant=variant,
                            ab_sample=variant is not None,
                            state=MessageState.HELD
                            if sampler is not None and variant is None
                            else MessageState.QUEUED,
                        )
                    )
            after = ids[-1]

    async def claim(self, workspaces: Mapping[uuid.UUID, uuid.UUID]) -> list[Job]:
        """Up to a batch of due messages of these sends (send -> its workspace), with their
        recipients, that no earlier claim holds."""
        settled, self._settled = self._settled, []
        self._inflight.difference_update(settled)
        now = utcnow()
        async with self.database.session(read_only=True) as session:
            rows = (
                await session.execute(
                    select(
                        OutboxMessage.id,
                        OutboxMessage.send_id,
                        OutboxMessage.contact_id,
                        OutboxMessage.message_id,
                        OutboxMessage.attempts,
                        OutboxMessage.variant,
                    )
                    .where(
                        OutboxMessage.state == MessageState.QUEUED,
                        OutboxMessage.next_attempt_at <= now,
                        OutboxMessage.send_id.in_(list(workspaces)),
                    )
                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                    .limit(CLAIM_BATCH + len(self._inflight))
                )
            ).all()
            fresh = [row for row in rows if row[0] not in self._inflight][:CLAIM_BATCH]
            by_workspace: dict[uuid.UUID, list[uuid.UUID]] = {}
            for row in fresh:
                by_workspace.setdefault(workspaces[row[1]], []).append(row[2])
            people = {}
            for workspace_id, contact_ids in by_workspace.items():
                people.update(await repository.recipients(session, workspace_id, contact_ids))
        jobs = []
        for outbox_id, send_id, contact_id, message_id, attempts, variant in fresh:
            workspace_id = workspaces[send_id]
            jobs.append(
                Job(
                    outbox_id,
                    send_id,
                    workspace_id,
                    contact_id,
                    message_id,
                    attempts,
                    people.get(contact_id),
                    variant or 0,
                )
            )
            self._inflight.add(outbox_id)
        return jobs

    async def busy(self, send_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these sends still have messages to send (queued, in a relay's hands, held)."""
        async with self.database.session(read_only=True) as session:
            return set(
                await session.scalars(
                    select(OutboxMessage.send_id)
                    .where(OutboxMessage.send_id.in_(list(send_ids)), OutboxMessage.state.in_(_BUSY))
                    .distinct()
                )
            )


async def count(session: AsyncSession, send_id: uuid.UUID, *, in_sample: bool = False) -> int:
    """The send's messages (those of its A/B sample only, with `in_sample`)."""
    query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.send_id == send_id)
    if in_sample:
        query = query.where(OutboxMessage.ab_sample.is_(True))
    return int(await session.scalar(query) or 0)


async def states(session: AsyncSession, send_id: uuid.UUID) -> tuple[dict[MessageState, int], int]:
    """How many of the send's messages are in each state, and how many were sent in doubt."""
    by_state = {
        MessageState(state): int(number)
        for state, number in (
            await session.execute(
                select(OutboxMessage.state, func.count())
                .where(OutboxMessage.send_id == send_id)
                .group_by(OutboxMessage.state)
            )
        ).all()
    }
    in_doubt = await session.scalar(
        select(func.count()).where(OutboxMessage.send_id == send_id, OutboxMessage.in_doubt == true())
    )
    return by_state, int(in_doubt or 0)


async def cancel_waiting(session: AsyncSession, send_ids: list[uuid.UUID]) -> None:
    """The sends' messages that are queued or held will not go out."""
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.send_id.in_(send_ids),
            OutboxMessage.state.in_([MessageState.QUEUED, MessageState.HELD]),
        )
        .values(state=MessageState.CANCELLED)
    )


async def release_held(session: AsyncSession, send_id: uuid.UUID, variant: int, now: datetime) -> None:
    """The held rest of an A/B test's audience is queued with the winning subject."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.send_id == send_id, OutboxMessage.state == MessageState.HELD)
        .values(state=MessageState.QUEUED, variant=variant, next_attempt_at=now)
    )


def handed_to_a_relay(send_id: SQLColumnExpression[uuid.UUID]) -> ColumnElement[bool]:
    """SQL: a message of this send is in a relay's hands, its outcome not yet stored."""
    return (
        select(OutboxMessage.id)
        .where(OutboxMessage.send_id == send_id, OutboxMessage.state == MessageState.SENDING)
        .exists()
    )


async def sent_digests(session: AsyncSession, send_id: uuid.UUID) -> list[tuple[str, str]]:
    """(Message-ID, body hash) of every message of the send that a relay accepted: its batch."""
    rows = await session.execute(
        select(OutboxMessage.message_id, OutboxMessage.digest).where(
            OutboxMessage.send_id == send_id,
            OutboxMessage.state == MessageState.SENT,
            OutboxMessage.digest != "",
        )
    )
    return [(str(message_id), str(digest)) for message_id, digest in rows.all()]


async def sample_by_variant(session: AsyncSession, send_id: uuid.UUID) -> list[tuple[int, int, int]]:
    """An A/B test's sample: (subject index, messages, sent) per subject."""
    rows = await session.execute(
        select(
            OutboxMessage.variant,
            func.count(),
            func.count().filter(OutboxMessage.state == MessageState.SENT),
        )
        .where(OutboxMessage.send_id == send_id, OutboxMessage.ab_sample.is_(True))
        .group_by(OutboxMessage.variant)
    )
    return [
        (int(variant), int(total), int(sent)) for variant, total, sent in rows.all() if variant is not None
    ]


async def engaged_by_variant(session: AsyncSession, send_id: uuid.UUID) -> dict[int, tuple[int, int]]:
    """An A/B test's sample: (messages opened by a person or clicked, messages clicked) per
    subject. A proxy's open (`machine`) fetches every message's images, so it says nothing of
    which subject people preferred; its clicks, if any, still count."""
    rows = await session.execute(
        select(
            OutboxMessage.variant,
            func.count(func.distinct(OutboxMessage.id)),
            func.count(func.distinct(OutboxMessage.id)).filter(MessageEvent.kind == EventKind.CLICKED),
        )
        .join(MessageEvent, MessageEvent.message_id == OutboxMessage.id)
        .where(
            OutboxMessage.send_id == send_id,
            OutboxMessage.ab_sample.is_(True),
            MessageEvent.send_id == send_id,
            or_(
                MessageEvent.kind == EventKind.CLICKED,
                and_(MessageEvent.kind == EventKind.OPENED, MessageEvent.machine.is_(False)),
            ),
        )
        .group_by(OutboxMessage.variant)
    )
    return {
        int(variant): (int(opened), int(clicked))
        for variant, opened, clicked in rows.all()
        if variant is not None
    }


@dataclass(frozen=True)
class MessageRef:
    """A sent message as reports about it (links, webhooks) name it."""

    outbox_id: uuid.UUID
    send_id: uuid.UUID
    workspace_id: uuid.UUID
    contact_id: uuid.UUID


async def message_ref(session: AsyncSession, outbox_id: uuid.UUID) -> MessageRef | None:
    row = (
        await session.execute(
            select(OutboxMessage.id, OutboxMessage.send_id, Send.workspace_id, OutboxMessage.contact_id)
            .join(Send, Send.id == OutboxMessage.send_id)
            .where(OutboxMessage.id == outbox_id)
        )
    ).first()
    return MessageRef(*row) if row is not None else None


async def by_message_id(session: AsyncSession, workspace_id: uuid.UUID, message_id: str) -> MessageRef | None:
    """The workspace's message with this Message-ID (as the outbox stores it: local@domain)."""
    outbox_id = await session.scalar(
        select(OutboxMessage.id)
        .join(Send, Send.id == OutboxMessage.send_id)
        .where(OutboxMessage.message_id == message_id, Send.workspace_id == workspace_id)
    )
    return await message_ref(session, outbox_id) if outbox_id else None


async def latest_sent_to(session: AsyncSession, contact_id: uuid.UUID) -> MessageRef | None:
    """The latest message sent to this contact."""
    outbox_id = await session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.contact_id == contact_id, OutboxMessage.sent_at.is_not(None))
        .order_by(OutboxMessage.sent_at.desc())
        .limit(1)
    )
    return await message_ref(session, outbox_id) if outbox_id else None
