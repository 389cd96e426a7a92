"""A send's rollup pushed to a subscribed client as Server-Sent Events, within 2 s of an event.

Events of a send are recorded by whichever process saw them (the tracking routes of any server
process, the webhooks, the sender), so no in-process hook sees them all. The stream therefore
watches the send's events in the database: every `WATCH_SECONDS` one indexed query reads the
highest event id and the count of the send's events (`ix_message_events_send`), and only when
they changed is the rollup computed again and pushed. The client keeps one connection open and
never asks again; a comment every `HEARTBEAT_SECONDS` keeps proxies from closing an idle one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import msgspec
from litestar.response import ServerSentEventMessage
from sqlalchemy import func, select

from justmaily.server.analytics import rollups
from justmaily.server.db.engine import Database
from justmaily.server.delivery.models import MessageEvent
from justmaily.server.identity.principal import Principal
from justmaily.shared import analytics as wire

WATCH_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0

Mark = tuple[int | None, int]


async def _mark(database: Database, send_id: uuid.UUID) -> Mark:
    async with database.session(read_only=True) as session:  # never SQLite's write turn
        row = (
            await session.execute(
                select(func.max(MessageEvent.id), func.count()).where(MessageEvent.send_id == send_id)
            )
        ).one()
    return row[0], int(row[1])


async def first(
    database: Database, principal: Principal, send_id: uuid.UUID, bucket: rollups.Bucket
) -> tuple[Mark, wire.SendRollup]:
    """The rollup now (404 for another workspace's or no send, before any byte is streamed)."""
    mark = await _mark(database, send_id)
    async with database.session(read_only=True) as session:
        return mark, await rollups.send_rollup(session, principal, send_id, bucket)


async def stream(
    database: Database,
    principal: Principal,
    send_id: uuid.UUID,
    bucket: rollups.Bucket,
    start: tuple[Mark, wire.SendRollup],
) -> AsyncIterator[ServerSentEventMessage]:
    mark, rollup = start
    yield ServerSentEventMessage(data=msgspec.json.encode(rollup).decode(), event="rollup")
    quiet = 0.0
    while True:
        await anyio.sleep(WATCH_SECONDS)
        now = await _mark(database, send_id)
        if now != mark:
            async with database.session(read_only=True) as session:
                rollup = await rollups.send_rollup(session, principal, send_id, bucket)
            mark, quiet = now, 0.0
            yield ServerSentEventMessage(data=msgspec.json.encode(rollup).decode(), event="rollup")
            continue
        quiet += WATCH_SECONDS
        if quiet >= HEARTBEAT_SECONDS:
            quiet = 0.0
            yield ServerSentEventMessage(comment="still here")
