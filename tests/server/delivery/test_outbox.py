"""The outbox writer: a hand-off only for a message still queued; group commits."""

from __future__ import annotations

import dataclasses
import uuid

import anyio
import httpx
import pytest
from litestar import Litestar
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.delivery.models import OutboxMessage, Send
from justmaily.server.delivery.outbox.writer import Job, OutboxWriter, hand_off
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.delivery import MessageState, SendStatus
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.support.query_plan import sqlite_plan


async def queued_messages(app: Litestar, client: httpx.AsyncClient, team: Team, count: int) -> list[Job]:
    """`count` messages of a send in progress, as the dispatcher claims them."""
    owner = team[Role.OWNER].headers
    campaign = (await client.post("/api/campaigns", json={"name": "Outbox"}, headers=owner)).json()
    contacts = [
        (await client.post("/api/contacts", json={"email": f"o{i}@example.com"}, headers=owner)).json()["id"]
        for i in range(count)
    ]
    async with services_of(app).database.session() as session, session.begin():
        send = Send(
            workspace_id=team.workspace_id,
            campaign_id=uuid.UUID(campaign["id"]),
            status=SendStatus.SENDING,
            content={},
            content_hash="0" * 64,
            send_at=utcnow(),
            created_by=team[Role.OWNER].id,
        )
        session.add(send)
        await session.flush()
        rows = [
            OutboxMessage(send_id=send.id, contact_id=uuid.UUID(c), message_id=f"m{i}@acme.example")
            for i, c in enumerate(contacts)
        ]
        session.add_all(rows)
    return [Job(r.id, send.id, team.workspace_id, r.contact_id, r.message_id, 0) for r in rows]


async def states(database: Database, jobs: list[Job]) -> list[MessageState]:
    async with database.session(read_only=True) as session:
        return [(await session.get_one(OutboxMessage, job.id)).state for job in jobs]


async def test_a_cancelled_message_is_not_handed_off(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    database = services_of(app).database
    jobs = await queued_messages(app, client, team, 2)
    async with database.session() as session, session.begin():  # a cancel, after both were claimed
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == jobs[1].id).values(state=MessageState.CANCELLED)
        )
    stored: list[uuid.UUID] = []
    writer = OutboxWriter(database, stored.extend)
    async with anyio.create_task_group() as group:
        group.start_soon(writer.run)
        assert await writer.handing_off(jobs[0]) is True
        assert await writer.handing_off(jobs[1]) is False  # cancelled since its claim: it must not go out
        writer.sent(jobs[1], relay="r", digest="d", reply="250", when=utcnow())  # even if a worker tried
        writer.close()
    assert await states(database, jobs) == [MessageState.SENDING, MessageState.CANCELLED]
    assert set(stored) == {jobs[0].id, jobs[1].id}


async def test_retries_sent_and_failed_messages_are_stored_in_one_group(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    """Several temporary refusals in one group commit: the retry of many rows once raised before
    any SQL ran, and took the group's other results with it."""
    database = services_of(app).database
    jobs = await queued_messages(app, client, team, 6)
    writer = OutboxWriter(database, lambda ids: None)
    async with anyio.create_task_group() as group:
        group.start_soon(writer.run)
        for job in jobs[:4]:
            assert await writer.handing_off(job)
        writer.close()  # what follows is stored as one group, when the writer drains its queue
        writer.sent(jobs[0], relay="r", digest="d", reply="250 ok", when=utcnow())
        for job in jobs[1:4]:
            writer.retry(job, at=utcnow(), error="451 try again", count_attempt=False)
        writer.retry(jobs[4], at=utcnow(), error="451 try again", count_attempt=True)
        writer.failed_for_good(jobs[5], error="550 no such user")
    assert writer.failed is None
    assert await states(database, jobs) == [
        MessageState.SENT,
        *[MessageState.QUEUED] * 4,
        MessageState.FAILED,
    ]


async def test_a_change_that_cannot_be_stored_does_not_lose_the_rest_of_its_group(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    database = services_of(app).database
    jobs = await queued_messages(app, client, team, 3)
    erased = dataclasses.replace(jobs[1], id=uuid.uuid4())  # its event names no outbox row
    writer = OutboxWriter(database, lambda ids: None)
    async with anyio.create_task_group() as group:
        group.start_soon(writer.run)
        assert await writer.handing_off(jobs[0])
        writer.close()
        writer.sent(jobs[0], relay="r", digest="d", reply="250 ok", when=utcnow())
        writer.sent(erased, relay="r", digest="d", reply="250 ok", when=utcnow())
        writer.retry(jobs[2], at=utcnow(), error="451 try again", count_attempt=True)
    assert writer.failed is not None  # the sender restarts, and recovers what was lost
    assert await states(database, jobs) == [MessageState.SENT, MessageState.QUEUED, MessageState.QUEUED]
    async with database.session(read_only=True) as session:
        retried = await session.get_one(OutboxMessage, jobs[2].id)
    assert (retried.attempts, retried.last_error) == (1, "451 try again")


@pytest.mark.backends("sqlite")
async def test_a_hand_off_finds_its_messages_by_primary_key(settings: Settings) -> None:
    """SQLite without statistics preferred the index on states for `id IN (…) AND state = …` and
    read every queued message (25 ms a statement at 100,000 queued)."""
    database = Database(settings)
    try:
        async with database.session(read_only=True) as session:
            details = await sqlite_plan(session, hand_off([uuid.uuid4() for _ in range(20)]))
    finally:
        await database.dispose()
    assert "USING INDEX sqlite_autoindex_outbox_1 (id=?)" in details, details
    assert "ix_outbox_due" not in details


def test_only_sqlite_is_kept_off_the_index() -> None:
    statement = hand_off([uuid.uuid4()])
    assert "+outbox.state = ?" in str(statement.compile(dialect=sqlite.dialect()))
    on_postgresql = statement.compile(dialect=postgresql.asyncpg.dialect())  # type: ignore[no-untyped-call]
    assert " AND outbox.state = $3" in str(on_postgresql)
