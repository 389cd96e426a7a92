"""The few statements whose form differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import ColumnElement, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


def insert_or_ignore(session: AsyncSession, entity: Any) -> postgresql.Insert | sqlite.Insert:
    """INSERT … ON CONFLICT DO NOTHING on either backend: insert-or-keep in one statement, so
    two writers racing for the same key both succeed."""
    return native_insert(session, entity).on_conflict_do_nothing()


def native_insert(session: AsyncSession, entity: Any) -> postgresql.Insert | sqlite.Insert:
    """The backend's own INSERT, whose ON CONFLICT clauses (`on_conflict_do_update`, with
    `.excluded`) both backends spell the same."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(entity)
    return sqlite.insert(entity)


@asynccontextmanager
async def bulk_write_cache(session: AsyncSession, mib: int = 64) -> AsyncIterator[None]:
    """On SQLite, a page cache of `mib` MiB for this connection while a bulk write runs, then
    the previous size again. Inserting many rows into random-keyed indexes (digests, UUIDs)
    touches pages all over them; SQLite's default cache (2 MiB) keeps spilling and re-reading
    them. Pooled connections keep their pragmas, hence the restore. PostgreSQL: nothing."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    before = int((await session.execute(text("PRAGMA cache_size"))).scalar_one())
    await session.execute(text(f"PRAGMA cache_size={-1024 * int(mib)}"))
    try:
        yield
    finally:
        await session.execute(text(f"PRAGMA cache_size={before}"))


class unindexed(FunctionElement[Any]):  # noqa: N801 (an SQL construct, named as SQLAlchemy's are)
    """A column that SQLite's planner must not pick an index for: `+column` (SQLite's documented
    way, "The SQLite Query Optimizer Overview" 7.1), the plain column elsewhere.

    Without statistics SQLite may prefer an index on a low-selectivity column (an outbox state)
    over the primary key in `id IN (…) AND state = …`, and then reads every queued message: at
    100,000 queued, 25 ms for a statement that touches six rows.
    """

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _unindexed(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)
