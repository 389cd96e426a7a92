"""Fan-out between server processes: stored updates, presence, revocations.

- Updates: a process that stores updates announces the campaign and the new rows' ids, once
  committed; a process that has that campaign's room loaded reads the rows and applies them,
  so its clients see the edit.
- Presence: awareness updates (small) travel in the notification itself.
- Revocations: a member's or key's changed access closes their connections everywhere.

Two carriers, one set of notes: replicas sharing PostgreSQL use NOTIFY (sent in the storing
transaction, so only committed rows are announced; payloads are limited to 8,000 bytes: never
documents); the workers of one machine on SQLite use the Unix channels between them (`Link`,
`workers/channels.py`), announced after commit. A single process on SQLite needs neither.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

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
_MAX_PAYLOAD = 7900
UPDATES, PRESENCE, REVOKED = "u", "p", "r"
log = structlog.get_logger(__name__)


class Peers(Protocol):
    """What a replica does with what the others announce (the RoomManager)."""

    def holds(self, campaign_id: uuid.UUID) -> bool: ...
    async def deliver(self, campaign_id: uuid.UUID, updates: list[bytes]) -> None: ...
    async def relay_presence(self, campaign_id: uuid.UUID, update: bytes) -> None: ...
    async def close_principal(self, principal_id: uuid.UUID, workspace_id: uuid.UUID) -> int: ...


def _payload(kind: str, replica: str, *fields: str) -> str:
    return "|".join((kind, replica, *fields))


def _new_rows(replica: str, campaign_id: uuid.UUID, ids: list[int]) -> str:
    """The note that a document has these new rows (read back by `Fanout._apply`)."""
    return _payload(UPDATES, replica, str(campaign_id), ",".join(map(str, ids)))


async def _notify(session: AsyncSession, payload: str) -> None:
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
    )


async def announce(session: AsyncSession, replica: str, campaign_id: uuid.UUID, ids: list[int]) -> None:
    """Within the storing transaction: tell the other replicas (no-op off PostgreSQL)."""
    if session.get_bind().dialect.name != "postgresql" or not ids:
        return
    await _notify(session, _new_rows(replica, campaign_id, ids))


class Link(Protocol):
    """What carries notes between the workers of one machine (`workers.channels.Channels`)."""

    def broadcast(self, note: bytes) -> None: ...
    def listen(self, deliver: Callable[[bytes], None]) -> None: ...


class Fanout:
    """What the processes tell each other, whatever carries it (the subclasses)."""

    def __init__(self, store: DocumentStore, peers: Peers) -> None:
        self.store = store
        self.peers = peers
        self.listening = False  # readiness: a process that cannot hear the others is not ready
        self.first_listening = anyio.Event()

    async def run(self) -> None:
        raise NotImplementedError

    async def _publish(self, payload: str) -> None:
        raise NotImplementedError

    async def publish_presence(self, campaign_id: uuid.UUID, update: bytes) -> None:
        encoded = base64.b64encode(update).decode()
        if len(encoded) > _MAX_PAYLOAD:
            log.info("fanout_presence_too_large", bytes=len(update))
            return
        await self._publish(_payload(PRESENCE, self.store.replica, str(campaign_id), encoded))

    async def publish_revocation(self, principal_id: uuid.UUID, workspace_id: uuid.UUID) -> None:
        await self._publish(_payload(REVOKED, self.store.replica, str(principal_id), str(workspace_id)))

    @staticmethod
    def _enqueue(send: MemoryObjectSendStream[str], payload: str) -> None:
        try:
            send.send_nowait(payload)
        except anyio.WouldBlock:  # 10,000 notes behind: this process is stuck; rooms reload later
            log.warning("fanout_note_dropped", kind=payload[:1])

    async def _apply_loop(self, notifications: anyio.abc.ObjectReceiveStream[str]) -> None:
        async for payload in notifications:
            try:
                await self._apply(payload)
            except Exception:
                log.exception("fanout_apply_failed", payload=payload[:100])

    async def _apply(self, payload: str) -> None:
        kind, replica, *fields = payload.split("|")
        if replica == self.store.replica:
            return  # our own news
        if kind == UPDATES:
            campaign_id, row_ids = uuid.UUID(fields[0]), [int(i) for i in fields[1].split(",") if i]
            if not self.peers.holds(campaign_id):
                return  # not loaded here: it loads from the store when a client comes
            updates = await self.store.rows(row_ids)
            if len(updates) < len(row_ids):
                updates = await self.store.load(campaign_id)  # compacted meanwhile: take it all
            await self.peers.deliver(campaign_id, updates)
        elif kind == PRESENCE:
            await self.peers.relay_presence(uuid.UUID(fields[0]), base64.b64decode(fields[1]))
        elif kind == REVOKED:
            await self.peers.close_principal(uuid.UUID(fields[0]), uuid.UUID(fields[1]))


class LocalFanout(Fanout):
    """Between the workers of one machine on SQLite: notes over the Unix channels."""

    def __init__(self, store: DocumentStore, peers: Peers, link: Link) -> None:
        super().__init__(store, peers)
        self.link = link
        store.announced = self.announce

    def announce(self, campaign_id: uuid.UUID, ids: list[int]) -> None:
        """After the storing transaction committed (the readers read committed rows)."""
        if ids:
            self.link.broadcast(_new_rows(self.store.replica, campaign_id, ids).encode())

    async def _publish(self, payload: str) -> None:
        self.link.broadcast(payload.encode())

    async def run(self) -> None:
        send, receive = anyio.create_memory_object_stream[str](10_000)
        async with send, receive:
            self.link.listen(lambda note: self._enqueue(send, note.decode()))
            self.listening = True
            self.first_listening.set()
            await self._apply_loop(receive)


class PostgresFanout(Fanout):
    """Listens on one dedicated connection; reconnects with backoff if it drops."""

    def __init__(self, store: DocumentStore, url: str, peers: Peers) -> None:
        super().__init__(store, peers)
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def _publish(self, payload: str) -> None:
        try:
            async with self.store.database.session(read_only=True) as session:
                await _notify(session, payload)
                await session.commit()  # NOTIFY is delivered when its transaction commits
        except Exception:
            log.exception("fanout_publish_failed", kind=payload[:1])

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
            await connection.add_listener(CHANNEL, lambda *args: self._enqueue(send, args[3]))
            connection.add_termination_listener(lambda _connection: lost.set())
            self.listening = True
            self.first_listening.set()
            await lost.wait()
        finally:
            self.listening = False
            with anyio.CancelScope(shield=True):
                await connection.close(timeout=2)
