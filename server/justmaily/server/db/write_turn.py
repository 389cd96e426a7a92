"""SQLite's one write turn, taken in order by every writer of every process on the database.

SQLite lets one transaction write at a time. A writer that finds the turn taken sleeps in
SQLite's busy handler in growing steps (up to 100 ms) and tries again, and gives up with
"database is locked" after the busy timeout: p99 in the hundreds of milliseconds under load.
Writers queue instead — in this process on an asyncio lock, across processes (several server
workers, the CLI beside a running server) on an `flock` of a file beside the database, which
the kernel hands to the next waiter when it is let go. The file lock is tried without blocking
first (one system call); only when another process holds it does a thread wait for it.

Crash safety: a lock of a process that dies is released by the kernel with its files, and the
transaction it held is rolled back by SQLite; nothing waits for the dead.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio


class WriteTurn:
    def __init__(self, lock_file: Path | None) -> None:
        self._in_process = asyncio.Lock()
        self._lock_file = lock_file  # None: this process is the only writer (an in-memory database)
        self._fd: int | None = None

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        async with self._in_process:
            fd = self._opened()
            if fd is None:
                yield
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # Shielded: a wait abandoned on cancellation would take the lock later, for
                # nobody. Another process holds it for one transaction; then it is ours.
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _opened(self) -> int | None:
        # Opened on first use, so each forked worker has a file description (and a lock) of its own.
        if self._fd is None and self._lock_file is not None:
            self._fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_file_of(database_file: str | None) -> Path | None:
    """The write turn's file beside an SQLite database file; None for an in-memory database."""
    if not database_file or database_file == ":memory:" or database_file.startswith("file::memory:"):
        return None
    return Path(f"{database_file}-writers.lock")
