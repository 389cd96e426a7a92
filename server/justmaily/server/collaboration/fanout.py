"""Fan-out of stored document updates between server replicas sharing one PostgreSQL.

A replica that stores updates notifies (PostgreSQL NOTIFY, in the same transaction, so only
committed rows are announced) with the campaign and the new rows' ids; every replica listens,
and one that has that campaign's room loaded reads those rows and applies them, so its clients
see the edit. NOTIFY payloads are limited to 8,000 bytes: they carry ids, never documents.
The embedded SQLite default is a single process and needs none of this.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import asyncpg
import structlog
from anyio.streams.memory import MemoryObjectSendStream
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from justmaily.server.collaboration.store import DocumentStore

CHANNEL = "justmaily_documents"
log = structlog.get_logger(__name__)
Deliver = Callable[[uuid.UUID, list[bytes]], Awaitable[None]]


async def announce(session: AsyncSession, replica: str, campaign_id: uuid.UUID, ids: list[int]) -> None:
    """Within the storing transaction: tell the other replicas (no-op off PostgreSQL)."""
    if session.get_bind().dialect.name != "postgresql" or not ids:
        return
    payload = f"{replica}|{campaign_id}:{','.join(map(str, ids))}"
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
    )


class PostgresFanout:
    """Listens on one dedicated connection; reconnects with backoff if it drops."""

    def __init__(self, store: DocumentStore, url: str, deliver: Deliver) -> None:
        self.store = store
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.deliver = deliver
        self.listening = False  # readiness: a replica that cannot hear the others is not ready
        self.first_listening = anyio.Event()

    async def run(self) -> None:
        send, receive = anyio.create_memory_object_stream[str](10_000)
        async with send, receive, anyio.create_task_group() as group:
            group.start_soon(self._apply_loop, receive)
            delay = 0.5
            while True:
                try:
                    await self._listen(send)
                    delay = 0.5
                    log.warning("fanout_connection_lost")
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("fanout_connect_failed", error=str(exc), retry_in=delay)
                    await anyio.sleep(delay)
                    delay = min(delay * 2, 10)

    async def _listen(self, send: MemoryObjectSendStream[str]) -> None:
        """Listen until the connection drops."""
        connection = await asyncpg.connect(self.dsn)
        lost = anyio.Event()
        try:
            await connection.add_listener(CHANNEL, lambda *args: send.send_nowait(args[3]))
            connection.add_termination_listener(lambda _connection: lost.set())
            self.listening = True
            self.first_listening.set()
            await lost.wait()
        finally:
            self.listening = False
            with anyio.CancelScope(shield=True):
                await connection.close(timeout=2)

    async def _apply_loop(self, notifications: anyio.abc.ObjectReceiveStream[str]) -> None:
        async for payload in notifications:
            try:
                replica, _, rest = payload.partition("|")
                if replica == self.store.replica:
                    continue  # our own rows: already in our rooms
                campaign, _, ids = rest.partition(":")
                campaign_id, row_ids = uuid.UUID(campaign), [int(i) for i in ids.split(",") if i]
                updates = await self.store.rows(row_ids)
                if len(updates) < len(row_ids):
                    updates = await self.store.load(campaign_id)  # compacted meanwhile: take it all
                await self.deliver(campaign_id, updates)
            except Exception:
                log.exception("fanout_apply_failed", payload=payload[:100])
