"""The offline store: one SQLite file per account, holding each opened campaign's document.

Every change to a document, local or remote, is appended as a Yjs update. Local changes carry
`pending = 1` until the server has acknowledged storing them; the document is the union of all
rows, so reopening a campaign offline shows what you last saw plus what you typed since.

Crash safety: rows are written in WAL mode, each batch in one transaction, within milliseconds
of the keystroke. A crash loses at most the batch being written; on restart, pending rows are
sent again (Yjs updates are idempotent, so a row the server already had does no harm).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path

import aiosqlite
import msgspec
from pycrdt import merge_updates

from justmaily.desktop.engine.sqlite_file import open_sqlite
from justmaily.shared.campaigns import Campaign

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    id TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    opened_at REAL
);
CREATE TABLE IF NOT EXISTS updates (
    campaign_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    pending INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, seq)
);
"""

# Confirmed rows are merged into one when a document has more than this many.
COMPACT_AFTER = 200


class StoredUpdate(msgspec.Struct, frozen=True):
    seq: int
    data: bytes
    pending: bool


class LocalStore:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    @classmethod
    async def open(cls, path: Path) -> LocalStore:
        return cls(await open_sqlite(path, _SCHEMA))

    async def close(self) -> None:
        await self._db.close()

    # Campaign list (what the campaign browser shows offline) ---------------------------------

    async def save_campaigns(self, campaigns: Iterable[Campaign]) -> None:
        rows = [(str(c.id), msgspec.json.encode(c)) for c in campaigns]
        await self._db.executemany(
            "INSERT INTO campaigns (id, data) VALUES (?, ?)"
            " ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            rows,
        )
        await self._db.commit()

    async def campaigns(self) -> list[Campaign]:
        async with self._db.execute("SELECT data FROM campaigns") as cursor:
            rows = await cursor.fetchall()
        found = [msgspec.json.decode(row[0], type=Campaign) for row in rows]
        return sorted(found, key=lambda c: c.created_at, reverse=True)

    async def forget_campaign(self, campaign_id: uuid.UUID) -> None:
        await self._db.execute("DELETE FROM campaigns WHERE id = ?", (str(campaign_id),))
        await self._db.execute("DELETE FROM updates WHERE campaign_id = ?", (str(campaign_id),))
        await self._db.commit()

    # Document updates ------------------------------------------------------------------------

    async def updates(self, campaign_id: uuid.UUID) -> list[StoredUpdate]:
        async with self._db.execute(
            "SELECT seq, data, pending FROM updates WHERE campaign_id = ? ORDER BY seq", (str(campaign_id),)
        ) as cursor:
            rows = await cursor.fetchall()
        return [StoredUpdate(seq, data, bool(pending)) for seq, data, pending in rows]

    async def append(self, campaign_id: uuid.UUID, updates: list[StoredUpdate]) -> None:
        await self._db.executemany(
            # A plain INSERT: two writers numbering alike must fail loudly, not overwrite.
            "INSERT INTO updates (campaign_id, seq, data, pending) VALUES (?, ?, ?, ?)",
            [(str(campaign_id), u.seq, u.data, int(u.pending)) for u in updates],
        )
        await self._db.commit()

    async def confirm(self, campaign_id: uuid.UUID, up_to_seq: int) -> None:
        """The server has stored every local change up to `up_to_seq`."""
        await self._db.execute(
            "UPDATE updates SET pending = 0 WHERE campaign_id = ? AND seq <= ? AND pending = 1",
            (str(campaign_id), up_to_seq),
        )
        await self._db.commit()

    async def compact(self, campaign_id: uuid.UUID) -> None:
        """Merge confirmed rows into one, in one transaction (a crash keeps the old rows)."""
        rows = [u for u in await self.updates(campaign_id) if not u.pending]
        if len(rows) <= COMPACT_AFTER:
            return
        merged = merge_updates(*(u.data for u in rows))
        key = str(campaign_id)
        await self._db.execute(
            "DELETE FROM updates WHERE campaign_id = ? AND pending = 0 AND seq <= ?", (key, rows[-1].seq)
        )
        await self._db.execute(
            "INSERT INTO updates (campaign_id, seq, data, pending) VALUES (?, ?, ?, 0)",
            (key, rows[-1].seq, merged),
        )
        await self._db.commit()
