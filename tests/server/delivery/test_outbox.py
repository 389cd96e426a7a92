"""The outbox writer: a hand-off only for a message still queued; group commits."""

from __future__ import annotations

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
from justmaily.server.delivery.outbox import Job, OutboxWriter, hand_off
from justmaily.server.settings import Settings
from justmaily.shared.delivery import MessageState, SendStatus
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.support.query_plan import sqlite_plan


async def test_a_cancelled_message_is_not_handed_off(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    owner = team[Role.OWNER].headers
    campaign = (await client.post("/api/campaigns", json={"name": "Outbox"}, headers=owner)).json()
    contacts = [
        (await client.post("/api/contacts", json={"email": f"o{i}@example.com"}, headers=owner)).json()["id"]
        for i in range(2)
    ]
    database = app.state.database
    async with database.session() as session, session.begin():
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
    async with database.session() as session, session.begin():  # a cancel, after both were claimed
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == rows[1].id).values(state=MessageState.CANCELLED)
        )
    stored: list[uuid.UUID] = []
    writer = OutboxWriter(database, stored.extend)
    jobs = [Job(r.id, send.id, team.workspace_id, r.contact_id, r.message_id, 0) for r in rows]
    async with anyio.create_task_group() as group:
        group.start_soon(writer.run)
        assert await writer.handing_off(jobs[0]) is True
        assert await writer.handing_off(jobs[1]) is False  # cancelled since its claim: it must not go out
        writer.sent(jobs[1], relay="r", digest="d", reply="250", when=utcnow())  # even if a worker tried
        writer.close()
    async with database.session(read_only=True) as session:
        found = {r.id: await session.get(OutboxMessage, r.id) for r in rows}
    states = {key: row.state for key, row in found.items() if row is not None}
    assert states == {rows[0].id: MessageState.SENDING, rows[1].id: MessageState.CANCELLED}
    assert set(stored) == {rows[0].id, rows[1].id}


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
