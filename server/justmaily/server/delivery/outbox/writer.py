"""The outbox's state changes, written in groups (one transaction for many messages).

Workers hand every change to `OutboxWriter`; it commits whatever has gathered in one
transaction, so 1,000 messages a second cost tens of commits, not thousands. The one change a
worker waits for is `handing_off`: it must be stored before the relay may accept the message,
so that after a crash the outbox knows which messages might already be out (docs/delivery.md).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import anyio
import structlog
from sqlalchemy import Table, Update, bindparam, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences import repository
from justmaily.server.audiences.repository import RecipientRow
from justmaily.server.db.base import utcnow
from justmaily.server.db.dialects import unindexed
from justmaily.server.db.engine import Database
from justmaily.server.db.retry import unreachable, write_attempts
from justmaily.server.delivery.models import MessageEvent, OutboxMessage
from justmaily.server.metrics import sli
from justmaily.server.metrics.instruments import MESSAGES
from justmaily.shared.audiences import SuppressionReason
from justmaily.shared.delivery import EventKind, MessageState

log = structlog.get_logger(__name__)
# Core tables, not the ORM classes: a bulk INSERT through the ORM goes through its bulk-persistence
# layer, several times the Python work per row for rows that are never loaded back.
_OUTBOX = cast(Table, OutboxMessage.__table__)
_EVENTS = cast(Table, MessageEvent.__table__)


class Change(enum.Enum):
    HANDING_OFF = "handing_off"
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


def hand_off(ids: list[uuid.UUID]) -> Update:
    """Mark these messages as in a relay's hands; returns the ids of those still queued (the rest
    were cancelled since their claim and must not go out). Found by primary key, never through
    the index on states, which would read every queued message."""
    return (
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(ids), unindexed(_OUTBOX.c.state) == MessageState.QUEUED)
        .values(state=MessageState.SENDING, attempts=_OUTBOX.c.attempts + 1)
        .returning(_OUTBOX.c.id)
    )


@dataclass
class Job:
    """One claimed message, as a worker carries it."""

    id: uuid.UUID
    send_id: uuid.UUID
    workspace_id: uuid.UUID
    contact_id: uuid.UUID
    message_id: str
    attempts: int
    to: RecipientRow | None = None  # None: the contact was erased since the send was queued
    variant: int = 0  # the subject line (of an A/B test) it carries


@dataclass
class _Pending:
    change: Change
    job: Job
    values: dict[str, object]
    suppress: SuppressionReason | None = None
    email_key: str = ""
    done: anyio.Event | None = None
    accepted: bool = False


def _count(pending: _Pending) -> None:
    """An attempt's outcome, for metrics; a definite answer (sent, refused for good, suppressed)
    counts toward send completion, an answer in doubt against it."""
    if pending.change is Change.HANDING_OFF:
        return
    outcome = pending.change.value
    if pending.change is Change.RETRY:
        if not pending.values["doubt"]:
            MESSAGES.labels("retry").inc()  # a temporary refusal: neither done nor in doubt
            return
        outcome = "in_doubt"
    MESSAGES.labels(outcome).inc()
    sli.record(sli.SEND_COMPLETION, outcome != "in_doubt")


@dataclass
class OutboxWriter:
    database: Database
    # Called with the ids whose change is stored, so the dispatcher may claim them again.
    on_stored: Callable[[Iterable[uuid.UUID]], None]
    max_batch: int = 500
    _queue: list[_Pending] = field(default_factory=list)
    _wake: anyio.Event = field(default_factory=anyio.Event)
    failed: BaseException | None = None
    _closed: bool = False

    async def handing_off(self, job: Job) -> bool:
        """Store that the message is about to go to a relay; returns once it is stored.

        False: the message is no longer queued (its send was cancelled since it was claimed),
        so it must not go out.
        """
        done = anyio.Event()
        pending = _Pending(Change.HANDING_OFF, job, {}, done=done)
        self._put(pending)
        await done.wait()
        if self.failed is not None:
            raise RuntimeError("the outbox could not be written") from self.failed
        return pending.accepted

    def sent(self, job: Job, *, relay: str, digest: str, reply: str, when: datetime) -> None:
        values = {"relay": relay, "digest": digest, "last_error": "", "sent_at": when, "reply": reply}
        self._put(_Pending(Change.SENT, job, values))

    def retry(
        self, job: Job, *, at: datetime, error: str, count_attempt: bool, in_doubt: bool = False
    ) -> None:
        values = {"next_attempt_at": at, "last_error": error[:500], "count": count_attempt, "doubt": in_doubt}
        self._put(_Pending(Change.RETRY, job, values))

    def failed_for_good(
        self, job: Job, *, error: str, suppress: SuppressionReason | None = None, email_key: str = ""
    ) -> None:
        self._put(_Pending(Change.FAILED, job, {"last_error": error[:500]}, suppress, email_key))

    def suppressed(self, job: Job, *, reason: str) -> None:
        self._put(_Pending(Change.SUPPRESSED, job, {"last_error": reason[:500]}))

    def _put(self, pending: _Pending) -> None:
        _count(pending)
        self._queue.append(pending)
        self._wake.set()

    async def run(self) -> None:
        """Store changes as they come, until `close()`; then what is left, and return."""
        while not self._closed:
            await self._wake.wait()
            self._wake = anyio.Event()
            await self.flush()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    async def flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            await self._store(batch)

    async def _store(self, batch: list[_Pending]) -> None:
        try:
            # Shielded: a batch taken off the queue is written whole, even while stopping.
            with anyio.CancelScope(shield=True):
                try:
                    await self._commit(batch)
                except Exception:
                    # One change that cannot be written must not take the others with it: a
                    # lost "sent" leaves its message in doubt, to be sent again after a restart.
                    log.exception("outbox group write failed; writing its changes one by one")
                    await self._store_one_by_one(batch)
        finally:
            self.on_stored(p.job.id for p in batch)
            for pending in batch:
                if pending.done is not None:
                    pending.done.set()

    async def _store_one_by_one(self, batch: list[_Pending]) -> None:
        for index, pending in enumerate(batch):
            try:
                await self._write_once([pending])
            except Exception as exc:
                # This change is lost: its message stays queued or handed off in the outbox,
                # which the restart that follows recovers as after a crash (docs/delivery.md).
                self.failed = exc
                if unreachable(exc):  # the rest would fail alike, each after a wait
                    log.exception("outbox unreachable: changes lost", messages=len(batch) - index)
                    return
                log.exception("outbox change lost", message=str(pending.job.id), change=pending.change.value)

    async def _commit(self, batch: list[_Pending]) -> None:
        async for attempt in write_attempts():
            with attempt:
                await self._write_once(batch)

    async def _write_once(self, batch: list[_Pending]) -> None:
        try:
            async with self.database.session() as session, session.begin():
                await self._write(session, batch)
        except BaseException:
            for pending in batch:
                pending.accepted = False  # rolled back: no hand-off was stored
            raise

    async def _write(self, session: AsyncSession, batch: list[_Pending]) -> None:
        by_change: dict[Change, list[_Pending]] = {}
        for pending in batch:
            by_change.setdefault(pending.change, []).append(pending)
        if items := by_change.get(Change.HANDING_OFF):
            # Only a message still queued may go out: a cancel since its claim has the last word.
            handed = set(await session.scalars(hand_off([p.job.id for p in items])))
            for p in items:
                p.accepted = p.job.id in handed
        if items := by_change.get(Change.SENT):
            await session.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == bindparam("b_id"), _OUTBOX.c.state == MessageState.SENDING)
                .values(
                    state=MessageState.SENT,
                    relay=bindparam("b_relay"),
                    digest=bindparam("b_digest"),
                    last_error="",
                    sent_at=bindparam("b_at"),
                ),
                [
                    {
                        "b_id": p.job.id,
                        "b_relay": p.values["relay"],
                        "b_digest": p.values["digest"],
                        "b_at": p.values["sent_at"],
                    }
                    for p in items
                ],
            )
            await self._events(session, items, EventKind.SENT, lambda p: str(p.values["reply"]))
        if items := by_change.get(Change.RETRY):
            await session.execute(
                update(_OUTBOX)
                .where(
                    _OUTBOX.c.id == bindparam("b_id"),
                    # Not `in_()`: expanding parameters cannot be used with executemany.
                    or_(_OUTBOX.c.state == MessageState.QUEUED, _OUTBOX.c.state == MessageState.SENDING),
                )
                .values(
                    state=MessageState.QUEUED,
                    next_attempt_at=bindparam("b_at"),
                    last_error=bindparam("b_error"),
                    attempts=_OUTBOX.c.attempts + bindparam("b_count"),
                    in_doubt=_OUTBOX.c.in_doubt | bindparam("b_doubt"),
                ),
                [
                    {
                        "b_id": p.job.id,
                        "b_at": p.values["next_attempt_at"],
                        "b_error": p.values["last_error"],
                        # A hand-off already counted the attempt; a refusal before it counts here.
                        "b_count": 1 if p.values["count"] else 0,
                        "b_doubt": bool(p.values["doubt"]),
                    }
                    for p in items
                ],
            )
        for change, state in (
            (Change.FAILED, MessageState.FAILED),
            (Change.SUPPRESSED, MessageState.SUPPRESSED),
        ):
            if items := by_change.get(change):
                await session.execute(
                    update(_OUTBOX)
                    .where(_OUTBOX.c.id == bindparam("b_id"))
                    .values(state=state, last_error=bindparam("b_error")),
                    [{"b_id": p.job.id, "b_error": p.values["last_error"]} for p in items],
                )
        if items := by_change.get(Change.FAILED):
            await self._events(session, items, EventKind.FAILED, lambda p: str(p.values["last_error"]))
            for p in items:
                if p.suppress is not None and p.email_key:
                    await repository.suppress(
                        session, p.job.workspace_id, p.email_key, p.suppress, str(p.values["last_error"])
                    )

    async def _events(
        self, session: AsyncSession, items: list[_Pending], kind: EventKind, detail: Callable[[_Pending], str]
    ) -> None:
        when = utcnow()
        await session.execute(
            insert(_EVENTS),
            [
                {
                    "workspace_id": p.job.workspace_id,
                    "send_id": p.job.send_id,
                    "message_id": p.job.id,
                    "contact_id": p.job.contact_id,
                    "kind": kind,
                    "detail": detail(p)[:2000],
                    "occurred_at": when,
                }
                for p in items
            ],
        )
