"""The event dispatcher: in-transaction handlers commit with their transaction or not at all;
after-commit handlers run once it committed, never after a rollback."""

from __future__ import annotations

import uuid

import anyio
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.engine import Database
from justmaily.server.events import CampaignStatusChanged, Events
from justmaily.server.identity.models import Workspace
from justmaily.server.settings import Settings
from justmaily.shared.campaigns import CampaignStatus


def news() -> CampaignStatusChanged:
    return CampaignStatusChanged(
        workspace_id=uuid.uuid4(), campaign_id=uuid.uuid4(), status=CampaignStatus.APPROVED
    )


async def workspaces(database: Database) -> int:
    async with database.session(read_only=True) as session:
        return int(await session.scalar(select(func.count()).select_from(Workspace)) or 0)


async def failing_move(database: Database, events: Events) -> None:
    async with database.session() as session, session.begin():
        await events.emit(session, news())
        raise RuntimeError("the move failed after the handler wrote")


async def test_handlers_act_inside_the_transaction_and_after_its_commit(settings: Settings) -> None:
    events, seen = Events(), []

    async def write(session: AsyncSession, changed: CampaignStatusChanged) -> None:
        session.add(Workspace(slug=f"w-{changed.campaign_id.hex[:8]}", name="by a handler"))

    async def shown(changed: CampaignStatusChanged) -> None:
        seen.append(changed)

    events.on(CampaignStatusChanged, write)
    events.after_commit(CampaignStatusChanged, shown)
    database = Database(settings)
    try:
        before = await workspaces(database)
        async with anyio.create_task_group() as group:
            events.start(group)
            with pytest.raises(RuntimeError):
                await failing_move(database, events)
            committed = news()
            async with database.session() as session, session.begin():
                await events.emit(session, committed)
                assert seen == []  # not before the commit
        assert seen == [committed]  # once, and only for what committed
        assert await workspaces(database) == before + 1
    finally:
        await database.dispose()


async def test_without_a_running_app_nothing_runs_after_commit(settings: Settings) -> None:
    events, seen = Events(), []

    async def shown(changed: CampaignStatusChanged) -> None:
        seen.append(changed)

    events.after_commit(CampaignStatusChanged, shown)
    database = Database(settings)
    try:
        async with database.session() as session, session.begin():
            await events.emit(session, news())
    finally:
        await database.dispose()
    assert seen == []
