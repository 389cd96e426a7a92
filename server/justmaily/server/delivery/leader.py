"""One sending process per database at a time.

The outbox is claimed in memory, not row by row in the database, so two senders would send the
same messages. The sender therefore holds a lock for as long as it runs: on SQLite a file lock
beside the database, on PostgreSQL a session advisory lock. Both vanish with the process, so
after a crash (even SIGKILL) another replica or the restarted process takes over at once.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from justmaily.server.db.engine import Database
from justmaily.server.settings import Settings

_ADVISORY_KEY = 0x4A4D_5345_4E44  # "JMSEND"
_POLL_SECONDS = 0.5


class LeaseLostError(RuntimeError):
    """The lock's database session ended (database restart, connection killed): stop sending."""


class Lease:
    """Held sending rights; `confirm()` raises LeaseLostError once they are gone."""

    def __init__(self, connection: AsyncConnection | None = None) -> None:
        self._connection = connection

    async def confirm(self) -> None:
        if self._connection is None:  # a file lock lasts as long as this process
            return
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
        except Exception as exc:
            # A session-level advisory lock ends with its session: another replica may send now.
            raise LeaseLostError(f"the sending lock's database session ended: {exc}") from exc


@asynccontextmanager
async def sending_lock(
    database: Database, settings: Settings, give_up: anyio.Event
) -> AsyncIterator[Lease | None]:
    """Wait until this process is the sender (a Lease), or until `give_up` is set (None)."""
    if database.engine.dialect.name == "sqlite":
        async with _file_lock(settings.data_path / "sender.lock", give_up) as acquired:
            yield Lease() if acquired else None
        return
    async with database.engine.connect() as connection:
        query, key = text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_KEY}
        while not (await connection.execute(query, key)).scalar():
            await connection.rollback()
            if await _gave_up(give_up):
                yield None
                return
        await connection.commit()
        try:
            yield Lease(connection)
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                    await connection.commit()
                except Exception:  # noqa: S110 - the connection is gone, and the lock with it
                    pass


@asynccontextmanager
async def _file_lock(path: Path, give_up: anyio.Event) -> AsyncIterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if await _gave_up(give_up):
                    yield False
                    return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


async def _gave_up(give_up: anyio.Event) -> bool:
    with anyio.move_on_after(_POLL_SECONDS):
        await give_up.wait()
    return give_up.is_set()
