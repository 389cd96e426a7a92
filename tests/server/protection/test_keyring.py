"""The repository reaches a workspace's keys from a session alone: a writable session makes and
unwraps them in its own transaction, a read-only one uses what the process unwrapped already and
otherwise unwraps once in a short write session, so every unwrap is on record."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.protection.keyring import hierarchy_of, workspace_keys
from justmaily.server.protection.models import AuditEntry
from justmaily.server.settings import Settings
from tests.server.protection.helpers import database_with_workspaces


async def test_a_read_only_session_gets_keys_and_their_unwrapping_is_committed(settings: Settings) -> None:
    async with database_with_workspaces(settings) as (database, (acme, rival)):
        async with database.session(read_only=True) as reader:
            assert await hierarchy_of(database).cached_keys(reader, acme) is None
            keys = await workspace_keys(reader, acme)
            assert await workspace_keys(reader, acme) is keys  # remembered for the session
        async with database.session(read_only=True) as reader:  # a later one: from memory
            assert await hierarchy_of(database).cached_keys(reader, acme) == keys
        async with database.session() as session:
            actions = await session.execute(
                select(AuditEntry.action, AuditEntry.actor_id).where(AuditEntry.workspace_id == acme)
            )
            assert sorted(actions.all()) == [
                ("key.create", "personal-data"),
                ("key.create", "personal-data"),
                ("key.unwrap", "personal-data"),
                ("key.unwrap", "personal-data"),
            ]
        async with database.session() as writer, writer.begin():
            assert (await workspace_keys(writer, acme)).data == keys.data
            assert (await workspace_keys(writer, rival)).index != keys.index


async def test_a_session_not_made_by_a_database_is_refused_clearly(settings: Settings) -> None:
    async with (
        database_with_workspaces(settings) as (database, (acme, _)),
        AsyncSession(database.engine) as bare,
    ):
        with pytest.raises(RuntimeError, match="was not made by a Database"):
            await workspace_keys(bare, acme)
