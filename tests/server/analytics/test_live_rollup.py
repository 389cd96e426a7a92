"""GET /api/sends/{id}/rollup/stream: a real server pushes a send's rollup over Server-Sent
Events within 2 s of an event recorded by anyone (here: straight into the database, as another
process would), with no request from the client; another workspace's send is not found."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx

from justmaily.server.audiences import repository
from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.delivery.models import MessageEvent, OutboxMessage, Send
from justmaily.shared.audiences import ConsentStatus
from justmaily.shared.delivery import EventKind, EventSource, MessageState, SendStatus
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live

T0 = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)


async def a_send_of_three(live: Live, campaign_id: str) -> tuple[uuid.UUID, list[OutboxMessage]]:
    database = Database(live.settings)
    try:
        async with database.session() as session, session.begin():
            contacts = [
                await repository.add_contact(
                    session,
                    live.team.workspace_id,
                    email=f"p{n}@example.com",
                    name="",
                    attributes={},
                    consent=ConsentStatus.SUBSCRIBED,
                    consent_source="test",
                )
                for n in range(3)
            ]
            send = Send(
                workspace_id=live.team.workspace_id,
                campaign_id=uuid.UUID(campaign_id),
                status=SendStatus.SENDING,
                content={},
                content_hash="0" * 64,
                send_at=T0,
                recipients=3,
                created_by=live.team[Role.OWNER].id,
                started_at=utcnow(),
            )
            session.add(send)
            await session.flush()
            messages = [
                OutboxMessage(
                    send_id=send.id,
                    contact_id=contact.id,
                    state=MessageState.SENT,
                    message_id=f"{uuid.uuid4().hex}@acme.example",
                )
                for contact in contacts
            ]
            session.add_all(messages)
        return send.id, messages
    finally:
        await database.dispose()


async def record(live: Live, send_id: uuid.UUID, message: OutboxMessage, kind: EventKind) -> None:
    database = Database(live.settings)
    try:
        async with database.session() as session, session.begin():
            session.add(
                MessageEvent(
                    workspace_id=live.team.workspace_id,
                    send_id=send_id,
                    message_id=message.id,
                    contact_id=message.contact_id,
                    kind=kind,
                    occurred_at=utcnow(),
                    source=EventSource.TRACKING,
                )
            )
    finally:
        await database.dispose()


async def rollups(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The `rollup` events of a Server-Sent Events stream, as they arrive."""
    event, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data += line.partition(":")[2].strip()
        elif not line and data:
            if event == "rollup":
                yield json.loads(data)
            event, data = "", ""


async def test_a_subscribed_client_gets_each_change_within_two_seconds(live: Live) -> None:
    campaign_id = await live.create_campaign()
    send_id, messages = await a_send_of_three(live, campaign_id)
    viewer = live.team[Role.VIEWER].headers
    path = f"/api/sends/{send_id}/rollup/stream"
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        other = await client.get(path, headers=live.team.rival.headers)
        assert (other.status_code, other.json()["code"]) == (404, "not_found")
        async with client.stream("GET", path, headers=viewer) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            pushed = rollups(response)
            with anyio.fail_after(5):
                now = await anext(pushed)
            assert (now["total"]["recipients"], now["total"]["opened"]) == (3, 0)
            for done, (message, kind) in enumerate(
                [(messages[0], EventKind.OPENED), (messages[1], EventKind.CLICKED)], start=1
            ):
                await record(live, send_id, message, kind)
                recorded = time.monotonic()
                with anyio.fail_after(2):  # the goal: pushed within 2 s of the event
                    now = await anext(pushed)
                assert time.monotonic() - recorded < 2
                assert now["total"]["opened"] + now["total"]["clicked"] == done
