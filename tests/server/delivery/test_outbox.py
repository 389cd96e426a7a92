"""The outbox writer: a hand-off only for a message still queued; group commits."""

from __future__ import annotations

import uuid

import anyio
import httpx
from litestar import Litestar
from sqlalchemy import update

from justmaily.server.db.base import utcnow
from justmaily.server.delivery.models import OutboxMessage, Send
from justmaily.server.delivery.outbox import Job, OutboxWriter
from justmaily.shared.delivery import MessageState, SendStatus
from justmaily.shared.roles import Role
from tests.plugins.api import Team


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
