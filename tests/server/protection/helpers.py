"""A database with workspaces, for the tests of keys and sealed data."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from justmaily.server.db.engine import Database
from justmaily.server.identity.models import Workspace
from justmaily.server.settings import Settings


@asynccontextmanager
async def database_with_workspaces(
    settings: Settings, count: int = 2
) -> AsyncIterator[tuple[Database, list[uuid.UUID]]]:
    database = Database(settings)
    try:
        async with database.session() as session, session.begin():
            workspaces = [Workspace(slug=f"w{n}", name=f"W{n}") for n in range(count)]
            session.add_all(workspaces)
            await session.flush()
            ids = [workspace.id for workspace in workspaces]
        yield database, ids
    finally:
        await database.dispose()
