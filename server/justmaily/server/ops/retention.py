"""Purges what the retention policies let go, once a day, in batches.

Each kind's purge is a run (`RetentionRun`) with a fixed cutoff, claimed by one process of the
installation (one unfinished run per kind: a unique index). Every batch deletes at most
`batch` rows older than the cutoff that no legal hold covers, and stores its progress in the
same transaction. Crash or restart: the batch in flight rolls back whole; the run stays
unfinished, and once its heartbeat is older than `lease` the next process to look resumes it
with the same cutoff. A hold placed mid-run applies from the next batch on.

Never purged: the transparency log's tables (append-only, guarded by triggers; they hold
digests, not personal data), the outbox (each message's record of what was sent and its
proof), contacts (erased on request, not by age). docs/operations.md says how an erasure
request interacts with them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import anyio
import structlog
from sqlalchemy import ColumnElement, Table, delete, func, not_, select, update

from justmaily.server.audiences.models import ContactImport
from justmaily.server.db.base import new_id, utcnow
from justmaily.server.db.dialects import insert_or_ignore
from justmaily.server.db.engine import Database
from justmaily.server.delivery.models import MessageEvent
from justmaily.server.ops.models import LegalHold, RetentionRun, SliMinute
from justmaily.server.ops.retention_policy import PURGED, RetentionFile
from justmaily.shared.delivery import EventKind

log = structlog.get_logger(__name__)
_DAY = timedelta(days=1)
_FIRST_CHECK_SECONDS = 300.0


@dataclass(frozen=True)
class Target:
    """The rows of one kind: which table, the key batches delete by, the age column."""

    table: Table
    key: ColumnElement[Any]
    stamp: ColumnElement[Any]
    workspace: ColumnElement[Any] | None  # None: installation-wide rows, which no hold covers
    where: ColumnElement[bool] | None = None
    stamp_of: Callable[[datetime], Any] = field(default=lambda cutoff: cutoff)


def targets() -> dict[str, Target]:
    events = cast(Table, MessageEvent.__table__)
    imports = cast(Table, ContactImport.__table__)
    minutes = cast(Table, SliMinute.__table__)
    tracking = events.c.kind.in_([EventKind.OPENED, EventKind.CLICKED])
    return {
        "tracking": Target(events, events.c.id, events.c.occurred_at, events.c.workspace_id, tracking),
        "message_events": Target(
            events, events.c.id, events.c.occurred_at, events.c.workspace_id, not_(tracking)
        ),
        "import_reports": Target(
            imports,
            imports.c.id,
            imports.c.finished_at,
            imports.c.workspace_id,
            imports.c.finished_at.is_not(None),
        ),
        "ops_indicators": Target(
            minutes, minutes.c.minute, minutes.c.minute, None, stamp_of=lambda cutoff: int(cutoff.timestamp())
        ),
    }


class Purger:
    def __init__(
        self,
        database: Database,
        policies: RetentionFile,
        *,
        check_every: float = 3600.0,
        batch: int = 2000,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self.database, self.policies, self.check_every = database, policies, check_every
        self.batch, self.lease = batch, lease
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._targets = targets()
        self._stopping = anyio.Event()
        self._stopped = anyio.Event()

    async def run(self) -> None:
        try:
            # Not at once: a start-up (a deploy, a restart) should not begin with a purge.
            wait = min(self.check_every, _FIRST_CHECK_SECONDS)
            while True:
                with anyio.move_on_after(wait):
                    await self._stopping.wait()
                if self._stopping.is_set():
                    break
                try:
                    await self.purge_due()
                except Exception:
                    log.exception("retention_purge_failed")
                wait = self.check_every
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        self._stopping.set()
        await self._stopped.wait()

    async def purge_due(
        self, now: datetime | None = None, *, max_batches: int | None = None
    ) -> dict[str, int]:
        """Run (or resume) every kind's purge that is due; rows deleted per kind. `max_batches`
        stops a run part-way, as a crash would (for tests and drills)."""
        now = now or utcnow()
        done = {}
        for kind in PURGED:
            run = await self._claim(kind, now)
            if run is not None:
                done[kind] = await self._purge(run, max_batches)
        return done

    async def _claim(self, kind: str, now: datetime) -> RetentionRun | None:
        days = self.policies.days()[kind]
        async with self.database.session() as session, session.begin():
            unfinished = await session.scalar(
                select(RetentionRun).where(RetentionRun.kind == kind, RetentionRun.finished_at.is_(None))
            )
            if unfinished is not None:
                if unfinished.holder != self.holder and unfinished.heartbeat_at > now - self.lease:
                    return None  # another process is on it
                taken = await session.execute(
                    update(RetentionRun)
                    .where(
                        RetentionRun.id == unfinished.id, RetentionRun.heartbeat_at == unfinished.heartbeat_at
                    )
                    .values(holder=self.holder, heartbeat_at=now)
                )
                if taken.rowcount != 1:  # type: ignore[attr-defined]
                    return None
                log.info("retention_run_resumed", kind=kind, cutoff=unfinished.cutoff.isoformat())
                await session.refresh(unfinished)
                return unfinished
            last = await session.scalar(
                select(func.max(RetentionRun.started_at)).where(RetentionRun.kind == kind)
            )
            if last is not None and last > now - _DAY:
                return None
            run_id = new_id()
            inserted = await session.execute(
                insert_or_ignore(session, RetentionRun).values(
                    id=run_id,
                    kind=kind,
                    cutoff=now - timedelta(days=days),
                    holder=self.holder,
                    started_at=now,
                    heartbeat_at=now,
                    deleted=0,
                    batches=0,
                )
            )
            if inserted.rowcount != 1:  # type: ignore[attr-defined]
                return None  # another process inserted it first
        return await self._reload(run_id)

    async def _reload(self, run_id: Any) -> RetentionRun | None:
        async with self.database.session(read_only=True) as session:
            return await session.get(RetentionRun, run_id)

    async def _purge(self, run: RetentionRun, max_batches: int | None) -> int:
        target = self._targets[run.kind]
        deleted = batches = 0
        while not self._stopping.is_set():
            async with self.database.session() as session, session.begin():
                chosen = select(target.key).where(target.stamp < target.stamp_of(run.cutoff))
                if target.where is not None:
                    chosen = chosen.where(target.where)
                if target.workspace is not None:
                    held = select(LegalHold.workspace_id).where(LegalHold.released_at.is_(None))
                    chosen = chosen.where(target.workspace.not_in(held))
                result = await session.execute(
                    delete(target.table).where(target.key.in_(chosen.limit(self.batch)))
                )
                count = int(result.rowcount)  # type: ignore[attr-defined]
                finished = count < self.batch
                await session.execute(
                    update(RetentionRun)
                    .where(RetentionRun.id == run.id)
                    .values(
                        deleted=RetentionRun.deleted + count,
                        batches=RetentionRun.batches + 1,
                        heartbeat_at=utcnow(),
                        finished_at=utcnow() if finished else None,
                    )
                )
            deleted, batches = deleted + count, batches + 1
            if finished:
                log.info(
                    "retention_run_finished", kind=run.kind, deleted=deleted, cutoff=run.cutoff.isoformat()
                )
                break
            if max_batches is not None and batches >= max_batches:
                break
        return deleted
