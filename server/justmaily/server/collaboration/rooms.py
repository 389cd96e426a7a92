"""Rooms: a pycrdt-websocket YRoom per campaign, made durable and managed.

What this adds to the stock YRoom (each a defect of pycrdt-websocket 0.16.5 as shipped, with
a test in tests/server/collaboration/):
- every accepted update is stored in the database, in batches (the batches of every room of the
  process gathered into shared transactions: writer.py), before the sender is told so;
- a room is unloaded only after it has been idle for a while and its writes have finished;
- rooms open one at a time under a lock, so simultaneous first clients cannot deadlock;
- newcomers get everyone's presence at once, and a client that leaves or falls silent
  disappears from everyone's presence at once;
- the room is loaded from the database when it opens;
- each change and each presence update is encoded once and handed to every client without a
  task per client, and a client that falls behind is closed (`broadcast.py`, `connection.py`).

It also keeps the document's size (`admits`) and who holds which presence (`claimable`).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from pycrdt import Doc, create_awareness_message

from justmaily.server.collaboration import insights
from justmaily.server.collaboration.broadcast import BroadcastRoom
from justmaily.server.collaboration.connection import Connection
from justmaily.server.collaboration.fanout import Fanout
from justmaily.server.collaboration.ports import ContentWatcher
from justmaily.server.collaboration.presence import user_id_of
from justmaily.server.collaboration.store import DocumentStore
from justmaily.server.collaboration.upkeep import Upkeep
from justmaily.server.metrics import sli
from justmaily.server.metrics.instruments import (
    ROOM_CONNECTIONS,
    ROOM_EDITS,
    ROOM_STORE_FAILURES,
    ROOM_STORE_LAG,
)
from justmaily.shared.collaboration import CloseCode
from justmaily.shared.document import content_hash, load_document, texts

log = structlog.get_logger(__name__)
_BATCH = 256


@dataclass(slots=True)
class PendingWrite:
    update: bytes
    connection: Connection | None = None
    sequence: int = 0
    done: anyio.Event = field(default_factory=anyio.Event)
    failed: bool = False
    queued_at: float = field(default_factory=time.monotonic)


# After stored batches, when due (upkeep.py; under the room's `state_lock`); returns an update
# it made, to store.
OnStored = Callable[[uuid.UUID, Doc[Any]], Awaitable[bytes | None]]


def _count_stored(lag: float) -> None:
    ROOM_EDITS.inc()
    ROOM_STORE_LAG.observe(lag)
    sli.record_duration(sli.ROOM_DELIVERY, lag)


class CampaignRoom:
    def __init__(
        self,
        campaign_id: uuid.UUID,
        workspace_id: uuid.UUID,
        doc: Doc[Any],
        store: DocumentStore,
        on_stored: OnStored | None = None,
        manager: RoomManager | None = None,
    ) -> None:
        self.campaign_id = campaign_id
        self.manager = manager
        self.workspace_id = workspace_id
        self.store = store
        self.on_stored = on_stored
        self.yroom = BroadcastRoom(doc)
        self.connections: set[Connection] = set()
        self.holders = 0  # connections and server-side edits using the room (guarded by the manager)
        self.stopping = False
        self.idle = anyio.Event()  # set by the manager when the last holder leaves
        # Held while the campaign row's review state is read and written into the document, so
        # the last writer writes what was committed last.
        self.state_lock = anyio.Lock()
        self._upkeep = Upkeep()
        self._stop = anyio.Event()
        self._stopped = anyio.Event()
        self._group: TaskGroup | None = None
        self._writes: MemoryObjectSendStream[PendingWrite]
        self._pending: MemoryObjectReceiveStream[PendingWrite]
        self._writes, self._pending = anyio.create_memory_object_stream[PendingWrite](math.inf)
        self._log = log.bind(campaign=str(campaign_id))
        # The encoded document's size, or a little more: exact when loaded, then every update
        # stored or delivered added (an upper bound, since updates overlap); exact again when
        # the bound comes near the limit (`admits`).
        self.size = len(doc.get_update())
        self.unstored = 0  # bytes queued for the database, not yet stored (bounded: `may_queue`)

    @property
    def doc(self) -> Doc[Any]:
        return self.yroom.ydoc

    def admits(self, update_size: int, limit: int) -> bool:
        """May an update of `update_size` bytes be applied without taking the document past
        `limit` bytes? Computing the size exactly costs a whole encoding: only near the limit."""
        if self.size + update_size <= limit:
            return True
        self.size = len(self.doc.get_update())
        return self.size + update_size <= limit

    def may_queue(self, update_size: int, limit: int) -> bool:
        """May a client's update wait to be stored? Not if what waits would pass `limit` bytes:
        the database is not keeping up, and the room must not grow without bound meanwhile."""
        return self.unstored + update_size <= limit

    def claimable(self, client_id: int, connection: Connection) -> bool:
        """May `connection` speak for the Yjs client `client_id`? Not if the room itself is that
        client, another live connection here speaks for it, or its presence (from a replica,
        say) carries another person's identity."""
        awareness = self.yroom.awareness
        if client_id == awareness.client_id:
            return False
        if any(other.client_id == client_id for other in self.connections if other is not connection):
            return False
        holder = user_id_of(awareness.states.get(client_id))
        return holder is None or holder == str(connection.principal.user_id)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with self.yroom, anyio.create_task_group() as group:
                self._group = group
                group.start_soon(self._write_loop)
                task_status.started()
                await self._stop.wait()
                self._writes.close()  # the write loop stores what is queued, then ends
        finally:
            # YRoom (0.16.5) never closes the stream its document observer feeds: close it, or
            # every unloaded room leaks it.
            stream = getattr(self.yroom, "_update_send_stream", None)
            if stream is not None:
                stream.close()
            self._stopped.set()

    def spawn(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `work` in the room's task group (a connection catching up with its backlog)."""
        if self._group is None:
            raise RuntimeError("the room is not running")
        self._group.start_soon(work)

    async def stop(self) -> None:
        """Close every connection (going away), store what is queued, stop; returns when done."""
        self.stopping = True
        for connection in list(self.connections):
            await connection.close(CloseCode.GOING_AWAY, "room closing; reconnect")
        self._stop.set()
        with anyio.CancelScope(shield=True):
            await self._stopped.wait()

    async def serve(self, connection: Connection) -> None:
        self.connections.add(connection)
        ROOM_CONNECTIONS.inc()
        try:
            connection.deliver(self.awareness_snapshot())
            await self.yroom.serve_peer(connection)
        finally:
            ROOM_CONNECTIONS.dec()
            self.connections.discard(connection)
            await self._forget_presence(connection)
            self._log.info(
                "room_connection_ended", connection=connection.id, updates=connection.updates_received
            )

    async def presence_changed(self, update: bytes) -> None:
        if self.manager is not None:
            await self.manager.presence_changed(self.campaign_id, update)

    async def relay_presence(self, update: bytes) -> None:
        self.yroom.awareness.apply_awareness_update(update, "replica")
        self.yroom.broadcast(create_awareness_message(update))

    def awareness_snapshot(self) -> bytes:
        awareness = self.yroom.awareness
        others = [cid for cid in awareness.states if cid != awareness.client_id]
        return create_awareness_message(awareness.encode_awareness_update(others))

    async def _forget_presence(self, connection: Connection) -> None:
        awareness = self.yroom.awareness
        gone = [cid for cid in (connection.client_id,) if cid is not None and cid in awareness.states]
        if not gone:
            return
        awareness.remove_awareness_states(gone, origin=connection)
        update = awareness.encode_awareness_update(gone)
        self.yroom.broadcast(create_awareness_message(update))
        await self.presence_changed(update)

    def store_later(
        self, update: bytes, connection: Connection | None = None, sequence: int = 0
    ) -> PendingWrite:
        """Queue an update for storing; `done` is set once it is stored (or `failed`)."""
        write = PendingWrite(update, connection, sequence)
        self.size += len(update)
        self.unstored += len(update)
        try:
            self._writes.send_nowait(write)
        except anyio.ClosedResourceError:
            # The room is closing: never acknowledged, so the sender sends it again on reconnect.
            write.failed = True
            write.done.set()
        return write

    async def _write_loop(self) -> None:
        async with self._pending:
            while True:
                first = None
                # Waiting for edits, or until the room's upkeep falls due (upkeep.py).
                with anyio.move_on_after(max(0.0, self._upkeep.due() - time.monotonic())):
                    try:
                        first = await self._pending.receive()
                    except anyio.EndOfStream:
                        break
                if first is None:
                    for note in await self._keep_up():
                        self.store_later(note)
                    continue
                batch = [first]
                while len(batch) < _BATCH:
                    try:
                        batch.append(self._pending.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                await self._store(batch)
        # Closing: what the upkeep still owes is done now, and its notes stored directly.
        notes = await self._keep_up(everything=True)
        if notes:
            await self._store([PendingWrite(note) for note in notes])

    async def _store(self, batch: list[PendingWrite]) -> None:
        try:
            await self._store_batch(batch)
        finally:
            self.unstored -= sum(len(w.update) for w in batch)

    async def _store_batch(self, batch: list[PendingWrite]) -> None:
        try:
            # With the other rooms' batches, in one transaction (writer.py).
            stored = await self.store.writer.append(self.campaign_id, [w.update for w in batch])
        except Exception:
            # Not stored and not acknowledged: the senders still hold these updates and send them
            # again when they reconnect (sync step 2), so close them to make that happen now.
            self._log.exception("room_store_failed", updates=len(batch))
            for write in batch:
                write.failed = True
                write.done.set()
                if write.connection is not None:
                    ROOM_STORE_FAILURES.inc()
                    sli.record(sli.ROOM_DELIVERY, False)
                    await write.connection.close(
                        CloseCode.INTERNAL_ERROR, "could not store your edits; reconnect"
                    )
            return
        self._upkeep.edited(self.doc, time.monotonic())
        for note in await self._keep_up():
            self.store_later(note)  # stored with the next batch; clients see it now
        acks: dict[Connection, int] = {}
        now = time.monotonic()
        for write in batch:
            write.done.set()
            if write.connection is not None:
                acks[write.connection] = max(acks.get(write.connection, 0), write.sequence)
                _count_stored(now - write.queued_at)
        for connection, sequence in acks.items():
            await connection.stored(sequence)
        if stored >= self.store.compact_after:
            merged = await self.store.compact(self.campaign_id)
            self._log.info("room_compacted", updates=merged)

    async def _keep_up(self, *, everything: bool = False) -> list[bytes]:
        """Check the campaign row and refresh the insights if due (upkeep.py); the updates this
        made to the document, to store."""
        now = time.monotonic()
        check_row, refresh_insights = self._upkeep.take(now, everything=everything)
        made: list[bytes] = []
        if check_row and self.on_stored is not None:
            try:
                async with self.state_lock:
                    update = await self.on_stored(self.campaign_id, self.doc)
                if update is not None:
                    made.append(update)
            except Exception:  # the edits are stored; the row is checked again a little later
                self._log.exception("room_materialise_failed")
                self._upkeep.row_failed(now)
        if refresh_insights:
            update = insights.refresh(self.doc)
            if update is not None:
                made.append(update)
            watcher = None if self.manager is None else self.manager.watcher
            if watcher is not None and not everything:  # closing: the next load looks again
                watcher.changed(self.campaign_id, self.workspace_id, texts(self.doc), content_hash(self.doc))
        return made


class RoomManager:
    """Opens rooms on demand, one at a time; unloads them when idle; closes them on shutdown."""

    def __init__(
        self,
        store: DocumentStore,
        group: TaskGroup,
        idle_unload_seconds: float,
        on_stored: OnStored | None = None,
    ) -> None:
        self.store = store
        self.on_stored = on_stored
        self.group = group
        self.idle_unload_seconds = idle_unload_seconds
        self.rooms: dict[uuid.UUID, CampaignRoom] = {}
        self.fanout: Fanout | None = None  # set where other processes may hold the same rooms
        self.watcher: ContentWatcher | None = None  # told of changed texts (the agent mesh)
        self._lock = anyio.Lock()

    async def acquire(self, campaign_id: uuid.UUID, workspace_id: uuid.UUID) -> CampaignRoom:
        """The campaign's running room, loaded if need be; release it when done."""
        async with self._lock:
            room = self.rooms.get(campaign_id)
            if room is None:
                doc = load_document(await self.store.load(campaign_id))
                room = CampaignRoom(campaign_id, workspace_id, doc, self.store, self.on_stored, self)
                await self.group.start(room.run)
                self.rooms[campaign_id] = room
                self.group.start_soon(self._unload_when_idle, room)
            if room.holders == 0:
                room.idle = anyio.Event()
            room.holders += 1
            return room

    async def release(self, room: CampaignRoom) -> None:
        async with self._lock:
            room.holders -= 1
            if room.holders == 0:
                room.idle.set()

    async def _unload_when_idle(self, room: CampaignRoom) -> None:
        while not room.stopping:
            await room.idle.wait()
            await anyio.sleep(self.idle_unload_seconds)
            async with self._lock:
                if room.holders == 0 and not room.stopping:
                    self.rooms.pop(room.campaign_id, None)
                    await room.stop()
                    log.info("room_unloaded", campaign=str(room.campaign_id))

    async def presence_changed(self, campaign_id: uuid.UUID, update: bytes) -> None:
        """A local client's presence changed: other replicas' clients should see it too."""
        if self.fanout is not None:
            await self.fanout.publish_presence(campaign_id, update)

    async def relay_presence(self, campaign_id: uuid.UUID, update: bytes) -> None:
        """Presence from another replica's clients: show it to ours."""
        room = self.rooms.get(campaign_id)
        if room is not None and not room.stopping:
            await room.relay_presence(update)

    async def revoke(self, principal_id: uuid.UUID, workspace_id: uuid.UUID) -> int:
        """Access changed: close the principal's connections here and on every other replica."""
        if self.fanout is not None:
            await self.fanout.publish_revocation(principal_id, workspace_id)
        return await self.close_principal(principal_id, workspace_id)

    def holds(self, campaign_id: uuid.UUID) -> bool:
        """Whether this process has the campaign's room loaded (fan-out reads rows only then)."""
        room = self.rooms.get(campaign_id)
        return room is not None and not room.stopping

    async def deliver(self, campaign_id: uuid.UUID, updates: list[bytes]) -> None:
        """Updates another replica stored: apply them to our room, if we have it loaded."""
        room = self.rooms.get(campaign_id)
        if room is None or room.stopping:
            return  # it loads from the database when a client comes
        for update in updates:
            room.doc.apply_update(update)  # YRoom forwards the changes to our clients
            room.size += len(update)

    async def close_principal(self, principal_id: uuid.UUID, workspace_id: uuid.UUID) -> int:
        """Close the room connections of a member (or an API key, or the keys a member made)
        whose access changed; returns how many."""
        closed = 0
        for room in list(self.rooms.values()):
            if room.workspace_id != workspace_id:
                continue
            for connection in list(room.connections):
                if principal_id in (connection.principal.id, connection.principal.user_id):
                    await connection.close(CloseCode.ACCESS_REVOKED, "your access changed; get a new ticket")
                    closed += 1
        return closed

    async def close_all(self) -> None:
        """Stop every room at once, each storing what it has queued. They are marked stopping
        before the lock is let go, so an unload falling due meanwhile leaves them alone."""
        async with self._lock:
            rooms, self.rooms = list(self.rooms.values()), {}
            for room in rooms:
                room.stopping = True
        async with anyio.create_task_group() as group:
            for room in rooms:
                group.start_soon(room.stop)
