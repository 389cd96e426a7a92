"""Alembic environment: migrates over the connection the caller hands in (see migrate.py)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection, text

from justmaily.server.db.base import UTCDateTime
from justmaily.server.migrations.schema import metadata

# Arbitrary constant: replicas that start together take turns migrating.
_MIGRATION_LOCK_ID = 7_361_245


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations must not import app code: write our column types as plain SQLAlchemy ones.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,  # SQLite too: our engine wraps every transaction in BEGIN IMMEDIATE
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_standalone() -> None:
    # `alembic` on the command line (autogenerate): connect with the configured settings.
    from justmaily.server.db.engine import create_engine
    from justmaily.server.settings import load_settings

    async def go() -> None:
        engine = create_engine(load_settings()[0])
        async with engine.begin() as connection:
            await connection.run_sync(_run)
        await engine.dispose()

    asyncio.run(go())


_connection = context.config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    _run_standalone()
