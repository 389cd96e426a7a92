"""The few statements whose form differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_or_ignore(session: AsyncSession, entity: Any) -> postgresql.Insert | sqlite.Insert:
    """INSERT … ON CONFLICT DO NOTHING on either backend: insert-or-keep in one statement, so
    two writers racing for the same key both succeed."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(entity).on_conflict_do_nothing()
    return sqlite.insert(entity).on_conflict_do_nothing()
