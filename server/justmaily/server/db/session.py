"""`get_session`: one session per request, committed on success, rolled back on error."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.engine import Database

# RFC 9110's safe methods: their handlers only read, so they need no write turn.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@asynccontextmanager
async def transaction(database: Database, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
    """A session whose work is committed when the block ends, and rolled back if it raises."""
    async with database.session(read_only=read_only) as session:
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
    async with transaction(database, read_only=request.method in _SAFE_METHODS) as session:
        yield session
