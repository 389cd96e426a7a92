"""The desktop's local SQLite files (offline store, trust store): opened one way."""

from __future__ import annotations

from pathlib import Path

import aiosqlite


async def open_sqlite(path: Path, schema: str) -> aiosqlite.Connection:
    """Open (creating) `path` in WAL mode with `schema` applied (its statements must be idempotent).

    WAL with synchronous=NORMAL: a crash of the app loses nothing committed; a power cut may lose
    the last commits, never corrupt the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = await aiosqlite.connect(path)
    await connection.execute("PRAGMA journal_mode=WAL")
    await connection.execute("PRAGMA synchronous=NORMAL")
    await connection.executescript(schema)
    await connection.commit()
    return connection
