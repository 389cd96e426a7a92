"""Alembic migrations, run programmatically (`justmaily migrate`, and start-up for SQLite)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from justmaily.server.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(connection: Connection | None = None, settings: Settings | None = None) -> Config:
    """`settings`: what data migrations that seal or open personal data take the KEK provider
    from (0017); without them, such a migration loads the server's settings itself."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["settings"] = settings
    return config


async def upgrade_to_head(engine: AsyncEngine, settings: Settings | None = None) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync, settings), "head"))


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
