"""The audit log's daily Merkle roots, appended to the transparency log.

Once a UTC day is over, the root (RFC 9162, as the log's own) of that day's audit entries —
every workspace's, in (at, id) order, each leaf the entry's canonical JSON (`audit_leaf`) — is
appended as an `audit_root` entry. Whoever keeps the signed tree heads can then tell whether a
day's audit entries were changed, removed or added to afterwards. Days without entries get no
root. The tree head publisher calls `append_due` on each round; it looks at the log once per day.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, time, timedelta

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.protection.audit import audit_leaf, entries_between, first_entry_at
from justmaily.server.trust import log as trust_log
from justmaily.server.trust.models import LogEntry, LogState
from justmaily.shared.trust import EntryKind
from justmaily.shared.verify.transparency import root_hash


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


class AuditRoots:
    def __init__(self) -> None:
        self._done_through: date | None = None  # the last day whose root is known to be logged
        self._pending: date | None = None  # ... once the transaction that appended it commits

    def committed(self) -> None:
        """The transaction of the last `append_due` committed: its days need no more look."""
        if self._pending is not None:
            self._done_through, self._pending = self._pending, None

    async def append_due(self, session: AsyncSession, now: datetime) -> list[int]:
        """Append the roots of the finished days not logged yet, in the caller's transaction;
        returns their log indices. Call `committed` once it commits."""
        yesterday = now.astimezone(UTC).date() - timedelta(days=1)
        if self._done_through is not None and self._done_through >= yesterday:
            return []
        # Replicas take turns (the log's one state row, locked until commit on PostgreSQL; SQLite
        # has one writer), so a day's root is appended once.
        await session.execute(select(LogState.id).where(LogState.id == 1).with_for_update())
        day = await self._first_due(session)
        indices = []
        while day is not None and day <= yesterday:
            entries = await entries_between(session, _start_of(day), _start_of(day + timedelta(days=1)))
            if entries:
                data = {
                    "day": day.isoformat(),
                    "entries": len(entries),
                    "root": base64.b64encode(root_hash([audit_leaf(e) for e in entries])).decode(),
                }
                indices.append(await trust_log.append(session, trust_log.Record(EntryKind.AUDIT_ROOT, data)))
            day += timedelta(days=1)
        self._pending = yesterday
        return indices

    async def _first_due(self, session: AsyncSession) -> date | None:
        last = await session.scalar(
            select(LogEntry.leaf)
            .where(LogEntry.kind == EntryKind.AUDIT_ROOT)
            .order_by(LogEntry.index.desc())
            .limit(1)
        )
        if last is not None:
            logged = msgspec.json.decode(last)["day"]
            return date.fromisoformat(logged) + timedelta(days=1)
        first = await first_entry_at(session)
        return None if first is None else first.astimezone(UTC).date()
