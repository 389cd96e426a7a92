"""Engines tuned per backend: asyncpg with a health-checked pool, or aiosqlite with WAL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from justmaily.server.db.write_turn import WriteTurn, lock_file_of
from justmaily.server.settings import Settings

_READ_ONLY = "justmaily_read_only"
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(url: str) -> str:
    """Pick the async driver for a plain `sqlite://` or `postgresql://` URL."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None and parsed.drivername not in _DRIVERS.values():
        raise ValueError(f"unsupported database {parsed.drivername!r}: use sqlite:// or postgresql://")
    return parsed.set(drivername=driver or parsed.drivername).render_as_string(hide_password=False)


def create_engine(settings: Settings) -> AsyncEngine:
    # hide_parameters: statement parameters (password hashes, personal data) stay out of error
    # messages and out of SQLAlchemy's own statement log at any log level.
    url = async_url(settings.effective_database_url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, settings)
    return create_async_engine(
        url,
        pool_size=settings.database.pool_size,
        max_overflow=settings.database.max_overflow,
        pool_timeout=settings.database.pool_timeout_seconds,
        pool_recycle=settings.database.pool_recycle_seconds,
        pool_pre_ping=True,
        hide_parameters=True,
    )


def _sqlite_engine(url: str, settings: Settings) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        settings.data_path.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, connect_args={"timeout": settings.database.sqlite_busy_timeout_ms / 1000}, hide_parameters=True
    )
    busy_timeout = settings.database.sqlite_busy_timeout_ms

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Take transaction control from the driver: we emit BEGIN IMMEDIATE ourselves below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            f"busy_timeout={busy_timeout}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so a transaction that reads and then writes
        # waits for busy_timeout instead of failing with SQLITE_BUSY when another writer won.
        # Read-only transactions stay DEFERRED: in WAL mode they never wait for writers.
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

    return engine


class Database:
    """The engine and sessions of one app instance."""

    def __init__(self, settings: Settings) -> None:
        self.engine = create_engine(settings)
        self.settings = settings
        # `info` tells code handed only a session (the audiences repository, which opens sealed
        # personal data) which database it belongs to and whether it may write.
        self._writers = async_sessionmaker(
            self.engine, expire_on_commit=False, info={"database": self, "read_only": False}
        )
        self._readers = async_sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}),
            expire_on_commit=False,
            info={"database": self, "read_only": True},
        )
        # SQLite allows one writer at a time: writers of every process queue for it in order
        # (write_turn.py) rather than in SQLite's busy handler, which sleeps in growing steps.
        self._write_turn = (
            WriteTurn(lock_file_of(self.engine.url.database))
            if self.engine.dialect.name == "sqlite"
            else None
        )

    @asynccontextmanager
    async def session(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """A session, closed at the end of the block; the caller commits.

        A write session holds this process's SQLite write turn for the whole block: never open a
        second write session inside one (it would wait for itself).
        """
        if read_only:
            async with self._readers() as session:
                yield session
            return
        async with (
            self._write_turn() if self._write_turn else contextlib.nullcontext(),
            self._writers() as session,
        ):
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._write_turn is not None:
            self._write_turn.close()
