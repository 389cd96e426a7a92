"""One open campaign: its document, kept in the local store and synced with the server's room.

Plain Python (pycrdt, websockets, anyio, tenacity); the Qt layer only adapts it. The document is
always editable: typing lands in the local store at once and reaches the server whenever a
connection exists. Reconnection is automatic, with exponential backoff and jitter while the
server is away; on each connection, the Yjs state-vector exchange (sync steps 1 and 2) sends
exactly what the server lacks and fetches what this copy lacks.

"Pending" counts local changes the server has not yet confirmed storing (the room's "stored"
acks, message type 100): they survive a restart in the local store and are sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import anyio
import msgspec
import websockets
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from pycrdt import Awareness, Doc, Map, Text, TransactionEvent
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from justmaily.desktop.engine.errors import DesktopError, ErrorKind
from justmaily.desktop.engine.local_store import LocalStore, StoredUpdate
from justmaily.shared.collaboration import (
    COMMENTS,
    EMPTY_UPDATE,
    INSIGHTS,
    TEXT_FIELDS,
    CloseCode,
    RoomTicket,
)
from justmaily.shared.document import decode_position, encode_position, protocol, text
from justmaily.shared.document.protocol import Kind

# Transaction origins: the user's edits, and what arrives from the server or the local store.
LOCAL = "justmaily.desktop.local"
REMOTE = "justmaily.desktop.remote"
LOADED = "justmaily.desktop.loaded"
_NOT_LOCAL = frozenset({hash(REMOTE), hash(LOADED)})


class SyncStatus(enum.StrEnum):
    OFFLINE = "offline"  # no connection; retrying with backoff
    CONNECTING = "connecting"
    SYNCING = "syncing"  # connected; exchanging state or waiting for the server to store changes
    ONLINE = "online"  # connected, and the server has stored every local change
    STOPPED = "stopped"  # the server refused for good (campaign gone, access removed): see `problem`


class Activity(enum.StrEnum):
    HERE = "here"
    TYPING = "typing"
    IDLE = "idle"


class Timing(msgspec.Struct, frozen=True, kw_only=True):
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    heartbeat: float = 15.0  # the server closes connections silent for 45 s
    typing_for: float = 3.0  # "typing" lasts this long after the last keystroke
    idle_after: float = 120.0
    connect_timeout: float = 10.0


class RoomAccess(Protocol):
    async def room_ticket(self, campaign_id: uuid.UUID) -> RoomTicket: ...


class Peer(msgspec.Struct, frozen=True, kw_only=True):
    """Someone else in the room, from their awareness state."""

    client_id: int
    name: str
    colour: str
    activity: Activity
    user_id: str | None = None
    field: str | None = None  # which text their caret is in
    anchor: int | None = None  # selection start and caret, as offsets into that text (UTF-8)
    head: int | None = None


class _RetryError(Exception):
    """The connection failed or dropped: try again after a backoff."""


class _StopError(Exception):
    """Trying again cannot help: the reason is for the user."""


async def _awaited(result: Any) -> None:
    if result is not None:
        await result


class CampaignSync:
    def __init__(
        self,
        campaign_id: uuid.UUID,
        store: LocalStore,
        access: RoomAccess,
        *,
        user: dict[str, str],
        timing: Timing | None = None,
    ) -> None:
        self.campaign_id = campaign_id
        self.store = store
        self.access = access
        self.timing = timing or Timing()
        self.doc: Doc[Any] = Doc()
        self.awareness = Awareness(self.doc)
        self.user = user  # {"id", "name", "color"}: how others see us
        self.status = SyncStatus.OFFLINE
        self.problem: str | None = None
        self.read_only = False
        self.synced_once = False
        self.next_retry_in: float | None = None
        self._listeners: list[Callable[[], None]] = []
        self._notify_scheduled = False
        self._presence_scheduled = False
        self._seq = 0
        self._pending: list[int] = []  # local seqs not yet confirmed, ascending
        self._sent = 0  # updates sent on this connection (what the server's acks count)
        self._in_flight: list[tuple[int, int]] = []  # (send count, last local seq it covers)
        self._outbox: MemoryObjectSendStream[bytes] | None = None
        self._writes: MemoryObjectSendStream[Callable[[], Any]]
        self._write_queue: MemoryObjectReceiveStream[Callable[[], Any]]
        # Unbounded: a write is never refused (the disk being slow must not drop a keystroke).
        self._writes, self._write_queue = anyio.create_memory_object_stream[Callable[[], Any]](math.inf)
        self._writing = False
        self._run_scope = anyio.CancelScope()
        self._finished: anyio.Event | None = None
        self._handshaken = False  # our sync step 2 went out on this connection
        self._wake = anyio.Event()
        self._connected = False
        self._last_typed = 0.0
        self._last_active = time.monotonic()
        self._cursor: dict[str, Any] | None = None
        # The root types, made now: never later, inside a transaction.
        self._texts = {name: text(self.doc, name) for name in TEXT_FIELDS}
        self.doc.get(COMMENTS, type=Map)
        self.doc.get(INSIGHTS, type=Map)
        self._subscription = self.doc.observe(self._on_transaction)
        self.awareness.observe(lambda *_: self._notify())

    # For the UI ------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._pending)

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """`listener()` runs after any change of the document, status, pending count or peers.
        Returns the function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def text(self, name: str) -> Text:
        return self._texts[name]

    def edit(self, change: Callable[[Doc[Any]], None]) -> None:
        if self.read_only:
            raise DesktopError(ErrorKind.FORBIDDEN, "Your role can read this campaign but not edit it")
        with self.doc.transaction(origin=LOCAL):
            change(self.doc)

    def set_cursor(self, field: str | None, anchor: int | None = None, head: int | None = None) -> None:
        """Where our caret and selection are (offsets into `field`'s text), for others to draw."""
        self._last_active = time.monotonic()
        if field is None or anchor is None or head is None:
            self._cursor = None
        else:
            shared = self.text(field)
            self._cursor = {
                "field": field,
                "anchor": encode_position(shared, anchor),
                "head": encode_position(shared, head),
                # Plain offsets too: pycrdt's relative positions are wrong in non-ASCII text.
                "anchor_index": anchor,
                "head_index": head,
            }
        self._announce()

    def activity(self) -> Activity:
        now = time.monotonic()
        if now - self._last_typed < self.timing.typing_for:
            return Activity.TYPING
        if now - self._last_active > self.timing.idle_after:
            return Activity.IDLE
        return Activity.HERE

    def peers(self) -> list[Peer]:
        found = []
        for client_id, state in self.awareness.states.items():
            if client_id == self.doc.client_id or not state:
                continue
            found.append(self._peer(client_id, state))
        return sorted(found, key=lambda p: (p.name, p.client_id))

    def retry_now(self) -> None:
        """Skip the rest of the backoff (the user pressed "Reconnect", or the network came back)."""
        self._wake.set()

    # Life cycle ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Open the campaign from the local store (works offline)."""
        rows = await self.store.updates(self.campaign_id)
        with self.doc.transaction(origin=LOADED):
            for row in rows:
                self.doc.apply_update(row.data)
        self._seq = max((row.seq for row in rows), default=0)
        self._pending = [row.seq for row in rows if row.pending]
        await self.store.compact(self.campaign_id)

    async def run(self) -> None:
        """Keep the document in sync until cancelled or `stop()`ped. Call `load()` first."""
        self._finished = anyio.Event()
        try:
            with self._run_scope:
                async with anyio.create_task_group() as group:
                    group.start_soon(self._store_writer)
                    group.start_soon(self._activity_ticker)
                    await self._connect_forever()
                    # Refused for good: keep storing what is typed until the campaign is closed.
                    await anyio.sleep_forever()
        finally:
            self._finished.set()

    async def stop(self) -> None:
        """End `run()` and wait for it: what was queued is written first (see `_store_writer`)."""
        self._run_scope.cancel()
        if self._finished is not None:
            with anyio.CancelScope(shield=True):
                await self._finished.wait()

    async def flush(self) -> None:
        """Wait until every change so far is in the local store."""
        if not self._writing:  # `run()` is not (or no longer) running: write here
            await self._drain()
            return
        done = anyio.Event()
        await self._writes.send(done.set)
        await done.wait()

    # Connection loop -------------------------------------------------------------------------

    async def _connect_forever(self) -> None:
        while True:
            try:
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type(_RetryError),
                    wait=wait_exponential_jitter(
                        multiplier=self.timing.backoff_initial, max=self.timing.backoff_max, jitter=0.5
                    ),
                    sleep=self._nap,
                    before_sleep=self._going_offline,
                ):
                    with attempt:
                        await self._session()
            except _StopError as stop:
                self.problem = str(stop)
                self._set_status(SyncStatus.STOPPED)
                return

    def _going_offline(self, state: RetryCallState) -> None:
        self.next_retry_in = state.upcoming_sleep
        outcome = state.outcome.exception() if state.outcome is not None else None
        self.problem = str(outcome) if outcome else None
        self._set_status(SyncStatus.OFFLINE)

    async def _nap(self, seconds: float) -> None:
        self._wake = anyio.Event()
        with anyio.move_on_after(seconds):
            await self._wake.wait()
        self.next_retry_in = None

    async def _session(self) -> None:
        self._set_status(SyncStatus.CONNECTING)
        try:
            ticket = await self.access.room_ticket(self.campaign_id)
        except DesktopError as exc:
            if exc.kind in (ErrorKind.UNREACHABLE, ErrorKind.SERVER, ErrorKind.BUSY):
                raise _RetryError(str(exc)) from exc
            raise _StopError(str(exc)) from exc
        self.read_only = ticket.read_only
        try:
            with anyio.fail_after(self.timing.connect_timeout):
                ws = await websockets.connect(f"{ticket.url}&acks=1", max_size=None)
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            raise _RetryError(f"Cannot open the live connection: {exc}") from exc
        synced = False
        started = time.monotonic()
        try:
            synced = await self._serve(ws)
        finally:
            self._disconnected()
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                await ws.close()
        code = ws.close_code
        if code == CloseCode.NO_SUCH_ROOM:
            raise _StopError("This campaign no longer exists in your workspace")
        if synced and time.monotonic() - started > self.timing.backoff_max:
            return  # a connection that worked for a while: reconnect at once, backoff starts afresh
        # Anything else (a new ticket or role needed, a server closing us at once) waits its turn,
        # so a server that keeps refusing is not hammered.
        raise _RetryError(f"The server closed the live connection ({code} {ws.close_reason})".strip())

    async def _serve(self, ws: websockets.ClientConnection) -> bool:
        self._set_status(SyncStatus.SYNCING)
        self._sent, self._in_flight, self._handshaken = 0, [], False
        outbox, outgoing = anyio.create_memory_object_stream[bytes](10_000)
        self._outbox = outbox
        self._connected = True
        synced = False
        async with outbox, outgoing, anyio.create_task_group() as group:
            group.start_soon(self._writer, ws, outgoing)
            group.start_soon(self._heartbeat)
            self._send(protocol.sync_step1(self.doc))
            self._announce()
            unreadable: Exception | None = None
            try:
                async for raw in ws:
                    if isinstance(raw, bytes) and raw:
                        try:
                            synced = self._handle(raw) or synced
                        except (ValueError, IndexError, RuntimeError) as exc:  # a message we cannot read
                            unreadable = exc
                            break
            except websockets.ConnectionClosed:
                pass
            group.cancel_scope.cancel()
        if unreadable is not None:
            raise _RetryError(f"The server sent a message this app cannot read ({unreadable})")
        return synced

    def _disconnected(self) -> None:
        self._connected = False
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None
        others = [cid for cid in self.awareness.states if cid != self.doc.client_id]
        if others:  # what we knew of others is stale now
            self.awareness.remove_awareness_states(others, REMOTE)
        self._set_status(SyncStatus.OFFLINE)

    async def _writer(
        self, ws: websockets.ClientConnection, outgoing: MemoryObjectReceiveStream[bytes]
    ) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in outgoing:
                await ws.send(message)

    async def _heartbeat(self) -> None:
        while True:
            await anyio.sleep(self.timing.heartbeat)
            self._announce()

    def _send(self, message: bytes) -> None:
        if self._outbox is not None:
            with contextlib.suppress(anyio.ClosedResourceError, anyio.WouldBlock):
                self._outbox.send_nowait(message)

    # Messages --------------------------------------------------------------------------------

    def _handle(self, raw: bytes) -> bool:
        """Apply one message from the room; True when it completed the initial sync."""
        try:
            message = protocol.parse(raw)
        except protocol.UnknownMessageError:
            return False  # a newer server's extra: not for this app
        if message.kind is Kind.SYNC_STEP1:
            if not self.read_only:
                # Everything typed so far, including since connecting, goes in this reply.
                update = self.doc.get_update(message.payload)
                if update != EMPTY_UPDATE:
                    self._count_sent(self._seq)
                self._send(protocol.sync_step2(update))
                if update == EMPTY_UPDATE and self._pending:
                    # The server has all of it already (an ack lost with a dropped connection).
                    self._confirm(self._seq)
            self._handshaken = True
            return False
        if message.carries_update:
            with self.doc.transaction(origin=REMOTE):
                self.doc.apply_update(message.payload)
            if message.kind is Kind.SYNC_STEP2:
                self.synced_once = True
                self._settle()
                return True
        elif message.kind is Kind.AWARENESS:
            self.awareness.apply_awareness_update(message.payload, REMOTE)
        elif message.kind is Kind.STORED:
            self._acknowledged(message.count)
        return False

    def _count_sent(self, last_seq: int) -> None:
        self._sent += 1
        self._in_flight.append((self._sent, last_seq))

    def _acknowledged(self, stored: int) -> None:
        confirmed = 0
        while self._in_flight and self._in_flight[0][0] <= stored:
            confirmed = self._in_flight.pop(0)[1]
        if confirmed:
            self._confirm(confirmed)

    def _confirm(self, up_to_seq: int) -> None:
        self._pending = [seq for seq in self._pending if seq > up_to_seq]
        self._queue_write(lambda: self.store.confirm(self.campaign_id, up_to_seq))
        self._settle()

    def _settle(self) -> None:
        if self._connected and self.synced_once:
            self._set_status(SyncStatus.SYNCING if self._pending else SyncStatus.ONLINE)

    def _on_transaction(self, event: TransactionEvent) -> None:
        transaction: Any = event.transaction  # type: ignore[attr-defined]  # missing from pycrdt's stub
        origin = transaction.origin()
        update = event.update
        if origin == hash(LOADED) or update == EMPTY_UPDATE:
            return
        self._seq += 1
        local = origin not in _NOT_LOCAL
        row = StoredUpdate(self._seq, update, local)
        self._queue_write(lambda: self.store.append(self.campaign_id, [row]))
        if local:
            self._pending.append(self._seq)
            self._last_typed = self._last_active = time.monotonic()
            if self._connected and self._handshaken and not self.read_only:
                self._count_sent(self._seq)
                self._send(protocol.update_message(update))
            self._settle()
            self._announce()
        self._notify()

    # Presence --------------------------------------------------------------------------------

    def _announce(self) -> None:
        """Publish our presence: the state at once, the message once per burst (a keystroke both
        edits, which says "typing", and moves the caret)."""
        state = {"user": self.user, "cursor": self._cursor, "status": self.activity().value}
        self.awareness.set_local_state(state)
        if self._connected and not self._presence_scheduled:
            self._presence_scheduled = True
            self._soon(self._send_presence)

    def _send_presence(self) -> None:
        self._presence_scheduled = False
        if self._connected:
            update = self.awareness.encode_awareness_update([self.doc.client_id])
            self._send(protocol.awareness_message(update))

    async def _activity_ticker(self) -> None:
        """Tell others when we stop typing or go idle (those changes have no event of their own)."""
        shown = self.activity()
        while True:
            await anyio.sleep(1.0)
            now = self.activity()
            if now != shown:
                shown = now
                self._announce()

    @staticmethod
    def _caret(shared: Text, cursor: dict[str, Any]) -> tuple[int | None, int | None]:
        """A peer's selection as UTF-8 offsets. Relative positions follow concurrent edits, but
        pycrdt 0.14 mixes UTF-8 and UTF-16 units in them (pycrdt issue #382): in non-ASCII text
        the plain offsets the peer also sends are the better answer."""
        content = str(shared)
        size = len(content.encode())
        found: list[int | None] = []
        for key in ("anchor", "head"):
            plain = cursor.get(f"{key}_index")
            if size == len(content) or not isinstance(plain, int):  # ASCII, or a peer that sends none
                relative = decode_position(shared, str(cursor.get(key, "")))
                found.append(None if relative is None else min(max(relative, 0), size))
            else:
                found.append(min(max(plain, 0), size))
        return found[0], found[1]

    def _peer(self, client_id: int, state: dict[str, Any]) -> Peer:
        raw_user, raw_cursor = state.get("user"), state.get("cursor")
        user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
        cursor: dict[str, Any] | None = raw_cursor if isinstance(raw_cursor, dict) else None
        field = anchor = head = None
        if cursor and cursor.get("field") in self._texts:
            field = cursor["field"]
            anchor, head = self._caret(self.text(field), cursor)
        try:
            activity = Activity(state.get("status", "here"))
        except ValueError:
            activity = Activity.HERE
        return Peer(
            client_id=client_id,
            name=str(user.get("name") or "Someone"),
            colour=str(user.get("color") or "#6b7280"),
            user_id=user.get("id"),
            activity=activity,
            field=field,
            anchor=anchor,
            head=head,
        )

    # Local store writes, in order, off the typing path ---------------------------------------

    def _queue_write(self, write: Callable[[], Any]) -> None:
        try:
            self._writes.send_nowait(write)
        except anyio.ClosedResourceError:
            return  # closed: nothing can be typed into a closed campaign

    async def _store_writer(self) -> None:
        self._writing = True
        try:
            while True:
                try:
                    write = await self._write_queue.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    return
                with anyio.CancelScope(shield=True):  # closing the campaign must not cut a write
                    await _awaited(write())
        finally:
            self._writing = False
            with anyio.CancelScope(shield=True):  # what is queued still gets written, in order
                await self._drain()

    async def _drain(self) -> None:
        while True:
            try:
                write = self._write_queue.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return
            await _awaited(write())

    # Notifications ---------------------------------------------------------------------------

    def _set_status(self, status: SyncStatus) -> None:
        if status != self.status:
            self.status = status
            if status in (SyncStatus.ONLINE, SyncStatus.SYNCING):
                self.problem = None
            self._notify()

    def _notify(self) -> None:
        """Tell listeners soon, once per burst, and never inside a document transaction (where
        reading the document would fail)."""
        if not self._notify_scheduled:
            self._notify_scheduled = True
            self._soon(self._deliver)

    @staticmethod
    def _soon(callback: Callable[[], None]) -> None:
        """Run `callback` after the current transaction and whatever else runs now; at once when
        no event loop runs."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            callback()
            return
        loop.call_soon(callback)

    def _deliver(self) -> None:
        self._notify_scheduled = False
        for listener in list(self._listeners):
            listener()

    def close(self) -> None:
        """Let go of the document (call `flush()` first to keep what was typed)."""
        self.doc.unobserve(self._subscription)
        self._writes.close()
        self._write_queue.close()
