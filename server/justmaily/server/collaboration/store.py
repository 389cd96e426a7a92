"""The document log: append updates, load a document, compact updates into a snapshot.

The rooms of a process append through one `GroupWriter` (writer.py), which stores the batches
of many documents in one transaction (`append_many`).

Compaction reads what is committed, merges it, and deletes exactly the rows it merged, in one
transaction: safe with several replicas appending to the same document at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import cast

from pycrdt import merge_updates
from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.collaboration.fanout import announce
from justmaily.server.collaboration.models import DocumentSnapshot, DocumentUpdate
from justmaily.server.collaboration.writer import GroupWriter
from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction

# The Core table, not the ORM class: a bulk INSERT through the ORM goes through its
# bulk-persistence layer, several times the Python work per row.
_UPDATES = cast(Table, DocumentUpdate.__table__)


class DocumentStore:
    def __init__(self, database: Database, compact_after: int) -> None:
        self.database = database
        self.compact_after = compact_after
        self.replica = uuid.uuid4().hex[:12]  # names this process in fan-out notifications
        self.writer = GroupWriter(self)  # the rooms' batches, gathered into shared transactions
        # Told the new rows' ids once committed, where fan-out is not in the transaction (fanout.py).
        self.announced: Callable[[uuid.UUID, list[int]], None] | None = None

    async def load(self, campaign_id: uuid.UUID) -> list[bytes]:
        """The stored updates of a document, oldest first (the snapshot, if any, first of all)."""
        async with self.database.session(read_only=True) as session:
            snapshot = await session.scalar(
                select(DocumentSnapshot.data).where(DocumentSnapshot.campaign_id == campaign_id)
            )
            updates = await session.scalars(
                select(DocumentUpdate.data)
                .where(DocumentUpdate.campaign_id == campaign_id)
                .order_by(DocumentUpdate.id)
            )
            return ([snapshot] if snapshot else []) + list(updates)

    async def append_many(self, batches: Sequence[tuple[uuid.UUID, list[bytes]]]) -> dict[uuid.UUID, int]:
        """Store several documents' updates in one transaction (one statement for all rows),
        each document's new rows announced to the other replicas; returns how many rows each
        document's log now holds (for compaction)."""
        rows = [{"campaign_id": campaign_id, "data": u} for campaign_id, updates in batches for u in updates]
        async with transaction(self.database) as session:
            ids: dict[uuid.UUID, list[int]] = {campaign_id: [] for campaign_id, _ in batches}
            if rows:
                stored = await session.execute(
                    insert(_UPDATES).returning(_UPDATES.c.id, _UPDATES.c.campaign_id), rows
                )
                for row_id, campaign_id in stored:
                    ids[campaign_id].append(row_id)
            for campaign_id, new in ids.items():
                new.sort()
                await announce(session, self.replica, campaign_id, new)
            counted = await session.execute(
                select(_UPDATES.c.campaign_id, func.count())
                .where(_UPDATES.c.campaign_id.in_(list(ids)))
                .group_by(_UPDATES.c.campaign_id)
            )
            counts = dict.fromkeys(ids, 0)
            counts.update({campaign_id: int(n) for campaign_id, n in counted})
        if self.announced is not None:
            for campaign_id, new in ids.items():
                self.announced(campaign_id, new)
        return counts

    async def rows(self, ids: list[int]) -> list[bytes]:
        async with self.database.session(read_only=True) as session:
            return list(
                await session.scalars(
                    select(DocumentUpdate.data).where(DocumentUpdate.id.in_(ids)).order_by(DocumentUpdate.id)
                )
            )

    async def compact(self, campaign_id: uuid.UUID) -> int:
        """Merge the snapshot and all committed updates into a new snapshot; returns rows merged."""
        async with transaction(self.database) as session:
            snapshot = await session.get(DocumentSnapshot, campaign_id, with_for_update=True)
            rows = (
                await session.execute(
                    select(DocumentUpdate.id, DocumentUpdate.data)
                    .where(DocumentUpdate.campaign_id == campaign_id)
                    .order_by(DocumentUpdate.id)
                )
            ).all()
            if not rows:
                return 0
            merged = merge_updates(*([snapshot.data] if snapshot else []), *(data for _, data in rows))
            if snapshot is None:
                session.add(DocumentSnapshot(campaign_id=campaign_id, data=merged))
            else:
                snapshot.data, snapshot.updated_at = merged, utcnow()
            await session.execute(delete(DocumentUpdate).where(DocumentUpdate.id.in_([i for i, _ in rows])))
            return len(rows)


async def insert_updates(session: AsyncSession, campaign_id: uuid.UUID, updates: list[bytes]) -> list[int]:
    """Add updates to a document's log in the caller's transaction; their ids, in order."""
    return list(
        await session.scalars(
            insert(DocumentUpdate).returning(DocumentUpdate.id),
            [{"campaign_id": campaign_id, "data": u} for u in updates],
        )
    )
