"""`get_session`: one session per request, committed on success, rolled back on error.

A read request's session may already be open: authentication lends the one it looked the
credential up in (`lend_session`), so the request is one read transaction, not two."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.engine import Database

# RFC 9110's safe methods: their handlers only read, so they need no write turn.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The reads that authentication may do in the handler's session (OPTIONS is not authenticated).
READ_METHODS = frozenset({"GET", "HEAD"})
# The request's session, as the app's dependencies name it.
SESSION_DEPENDENCY = "db_session"
_LENT = "justmaily.lent_session"


def lend_session(scope: Scope, session: AsyncSession) -> None:
    """Hand an open read session to this request's `db_session`, which then owns its end."""
    scope.setdefault("state", {})[_LENT] = session


@asynccontextmanager
async def transaction(database: Database, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
    """A session whose work is committed when the block ends, and rolled back if it raises."""
    async with database.session(read_only=read_only) as session, _committed(session):
        yield session


@asynccontextmanager
async def _committed(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    try:
        yield session
    except BaseException:
        await session.rollback()
        raise
    await session.commit()


async def get_session(
    database: NamedDependency[Database], request: Request[Any, Any, Any]
) -> AsyncGenerator[AsyncSession, None]:
    # Litestar runs the code after `yield` before the response is sent, so a failed commit
    # still turns into an error response rather than a false success.
    lent: AsyncSession | None = request.scope.get("state", {}).pop(_LENT, None)
    if lent is None:
        async with transaction(database, read_only=request.method in _SAFE_METHODS) as session:
            yield session
        return
    async with _committed(lent):
        yield lent
