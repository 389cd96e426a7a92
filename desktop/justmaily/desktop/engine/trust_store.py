"""What the trust monitor keeps between runs: the pinned log key, the tree heads it verified, and
the alarm it raised with its evidence. One SQLite file per account, next to the offline store.

Writes are shielded from cancellation: they take milliseconds, and an aiosqlite call cancelled
half-way leaves a connection that never closes (see the server's `trust/publisher.py`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import aiosqlite
import anyio
import msgspec

from justmaily.desktop.engine.sqlite_file import open_sqlite
from justmaily.shared.trust import LogKey, TreeHead

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pinned_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tree_heads (
    size INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS alarm (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    data BLOB NOT NULL
);
"""


class Fork(msgspec.Struct, frozen=True, kw_only=True):
    """Why the log cannot be trusted, with the evidence: the last head this app verified and what
    the server served instead (its signed head when it sent one, else an excerpt of its answer)."""

    reason: str
    detected_at: datetime
    kept: TreeHead | None = None
    served: TreeHead | None = None
    served_text: str = ""


class TrustStore:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    @classmethod
    async def open(cls, path: Path) -> TrustStore:
        return cls(await open_sqlite(path, _SCHEMA))

    async def close(self) -> None:
        await self._db.close()

    async def _write(self, sql: str, parameters: tuple[object, ...] = ()) -> None:
        with anyio.CancelScope(shield=True):
            await self._db.execute(sql, parameters)
            await self._db.commit()

    async def _one(self, sql: str) -> bytes | None:
        async with self._db.execute(sql) as cursor:
            row = await cursor.fetchone()
        return None if row is None else bytes(row[0])

    # The pinned key --------------------------------------------------------------------------

    async def pinned_key(self) -> LogKey | None:
        data = await self._one("SELECT data FROM pinned_key WHERE id = 1")
        return None if data is None else msgspec.json.decode(data, type=LogKey)

    async def pin(self, key: LogKey) -> None:
        """Pin `key`, replacing a pinned one (only a deliberate re-pin does that)."""
        await self._write(
            "INSERT INTO pinned_key (id, data) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            (msgspec.json.encode(key),),
        )

    # Verified tree heads ---------------------------------------------------------------------

    async def heads(self, *, latest: int) -> list[TreeHead]:
        """The `latest` verified heads, smallest size first."""
        async with self._db.execute(
            "SELECT data FROM (SELECT size, data FROM tree_heads ORDER BY size DESC LIMIT ?) ORDER BY size",
            (latest,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [msgspec.json.decode(row[0], type=TreeHead) for row in rows]

    async def keep(self, head: TreeHead) -> None:
        # A plain INSERT: a second root at a kept size must fail loudly, never replace the first.
        await self._write(
            "INSERT INTO tree_heads (size, data) VALUES (?, ?)", (head.size, msgspec.json.encode(head))
        )

    # The alarm -------------------------------------------------------------------------------

    async def alarm(self) -> Fork | None:
        data = await self._one("SELECT data FROM alarm WHERE id = 1")
        return None if data is None else msgspec.json.decode(data, type=Fork)

    async def raise_alarm(self, fork: Fork) -> None:
        """Keep the first alarm: its evidence is what a person needs, later ones follow from it."""
        await self._write(
            "INSERT INTO alarm (id, data) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
            (msgspec.json.encode(fork),),
        )

    async def clear_alarm(self) -> None:
        await self._write("DELETE FROM alarm WHERE id = 1")
