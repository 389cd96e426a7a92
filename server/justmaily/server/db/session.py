"""`get_session`: one session per request, committed on success, rolled back on error."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.engine import Database


async def get_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    # Litestar runs the code after `yield` before the response is sent, so a failed commit
    # still turns into an error response rather than a false success.
    database: Database = state.database
    async with database.session() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
