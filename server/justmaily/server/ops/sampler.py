"""Each process, every `sample_seconds`: stores the indicator counts it made (sli.drain), and
reads what only the database knows into gauges (the outbox's backlog, the log's size and
publish lag, the pool). Once a minute it judges the log's freshness (an indicator event).

Crash or restart: counts not yet stored are lost (at most one interval of one process: the
compliance is a ratio, so a small gap hardly moves it); counts that could not be stored are put
back and stored with the next ones. It stops at a safe point, never mid-query.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import anyio
import structlog
from sqlalchemy import func, select

from justmaily.server.db.dialects import native_insert
from justmaily.server.db.engine import Database
from justmaily.server.delivery.models import OutboxMessage
from justmaily.server.metrics import sli
from justmaily.server.metrics.instruments import DB_POOL, LOG_PUBLISH_LAG, LOG_SIZE, OUTBOX
from justmaily.server.ops.models import SliMinute
from justmaily.server.trust.models import LogEntry, LogState, TreeHeadRow
from justmaily.shared.delivery import MessageState

log = structlog.get_logger(__name__)
# States whose counts stay small (what is still to do): counting every sent message of all time
# at each sample would read the whole outbox.
_BACKLOG = (MessageState.QUEUED, MessageState.SENDING, MessageState.HELD)


class Sampler:
    def __init__(self, database: Database, interval: float) -> None:
        self.database, self.interval = database, interval
        self._judged_minute = 0
        self._stopping = anyio.Event()
        self._stopped = anyio.Event()

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    await self.sample()
                except Exception:
                    log.exception("ops_sample_failed")
                with anyio.move_on_after(self.interval):
                    await self._stopping.wait()
            try:
                await self.store_counts()  # what was counted since the last sample
            except Exception:
                log.exception("ops_sample_failed")
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        self._stopping.set()
        await self._stopped.wait()

    async def sample(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        await self._read_gauges(now)
        self._sample_pool()
        await self.store_counts()

    async def store_counts(self) -> None:
        rows = sli.drain()
        if not rows:
            return
        try:
            async with self.database.session() as session:
                insert = native_insert(session, SliMinute).values(
                    [{"slo": s, "minute": m, "good": g, "total": t} for s, m, g, t in rows]
                )
                await session.execute(
                    insert.on_conflict_do_update(
                        index_elements=[SliMinute.slo, SliMinute.minute],
                        set_={
                            "good": SliMinute.good + insert.excluded.good,
                            "total": SliMinute.total + insert.excluded.total,
                        },
                    )
                )
                await session.commit()
        except BaseException:
            sli.restore(rows)
            raise

    async def _read_gauges(self, now: float) -> None:
        async with self.database.session(read_only=True) as session:
            backlog = dict(
                (
                    await session.execute(
                        select(OutboxMessage.state, func.count())
                        .where(OutboxMessage.state.in_(_BACKLOG))
                        .group_by(OutboxMessage.state)
                    )
                ).all()
            )
            in_doubt = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.in_doubt.is_(True))
            )
            size = await session.scalar(select(LogState.size)) or 0
            signed = await session.scalar(select(func.max(TreeHeadRow.size))) or 0
            oldest_unsigned = (
                await session.scalar(select(LogEntry.created_at).where(LogEntry.index == signed))
                if size > signed
                else None
            )
        for state in _BACKLOG:
            OUTBOX.labels(state.value).set(backlog.get(state, 0))
        OUTBOX.labels("in_doubt").set(in_doubt or 0)
        lag = 0.0 if oldest_unsigned is None else max(0.0, now - oldest_unsigned.timestamp())
        LOG_SIZE.set(size)
        LOG_PUBLISH_LAG.set(lag)
        minute = int(now // 60)
        if minute != self._judged_minute:
            self._judged_minute = minute
            sli.record(sli.TREE_HEAD_FRESHNESS, lag <= sli.threshold(sli.TREE_HEAD_FRESHNESS), now=now)

    def _sample_pool(self) -> None:
        pool = self.database.engine.pool
        checked_out = getattr(pool, "checkedout", None)
        checked_in = getattr(pool, "checkedin", None)
        if callable(checked_out) and callable(checked_in):
            DB_POOL.labels("in_use").set(checked_out())
            DB_POOL.labels("idle").set(checked_in())


def rfc3339(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
