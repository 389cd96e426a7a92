"""The y-sync provider: one pycrdt document kept in sync with a JustMaily room (docs/collaboration.md).

Over a `Channel` (a WebSocket, or anything else with its members), `serve` runs one connection:
the state-vector exchange (sync steps 1 and 2: each side sends exactly what the other lacks),
the room's updates applied, the document's own sent (`send_update`), presence (awareness) both
ways, and the server's "stored" acks counted. `run` keeps the document connected: a new ticket
per connection, reconnection with exponential backoff and jitter while the server is away, a
stop when trying again cannot help. `join` is one connection to a room, for scripts, tests and
benchmarks.

This is the one Python room client: the desktop's sync engine (`sync.py`), the tests and the
benchmarks all use it. Plain Python (pycrdt, websockets, anyio, tenacity); every message is read
and written by `justmaily.shared.document.protocol`.

The acks say "the first N updates you sent on this connection are stored". To turn that into
"local changes up to this one are stored", each update sent carries a mark from the `Journal`
(the offline store's number of the latest local change it covers). An update sent before our
step 2 carries none: older changes may still be on their way in that step 2.
"""

from __future__ import annotations

import contextlib
import enum
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, Self

import anyio
import msgspec
import websockets
from anyio import TASK_STATUS_IGNORED
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from pycrdt import Awareness, Doc, TransactionEvent
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from justmaily.desktop.engine.errors import DesktopError, ErrorKind
from justmaily.desktop.engine.notify import Topic, soon
from justmaily.shared.collaboration import EMPTY_UPDATE, CloseCode, RoomTicket
from justmaily.shared.document import protocol
from justmaily.shared.document.protocol import Kind

# Transaction origins: changes made here, what arrives from the room, and what is loaded from
# the local store (known already: neither stored again nor sent).
LOCAL = "justmaily.desktop.local"
REMOTE = "justmaily.desktop.remote"
LOADED = "justmaily.desktop.loaded"


class SyncStatus(enum.StrEnum):
    OFFLINE = "offline"  # no connection; retrying with backoff
    CONNECTING = "connecting"
    SYNCING = "syncing"  # connected; exchanging state or waiting for the server to store changes
    ONLINE = "online"  # connected, and the server has stored every local change
    STOPPED = "stopped"  # the server refused for good (campaign gone, access removed): see `problem`


class Timing(msgspec.Struct, frozen=True, kw_only=True):
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    heartbeat: float | None = 15.0  # the server closes connections silent for 45 s; None: never
    typing_for: float = 3.0  # presence: "typing" lasts this long after the last keystroke
    idle_after: float = 120.0  # presence: "idle" after this long without a keystroke or a caret move
    connect_timeout: float = 10.0


class RoomAccess(Protocol):
    async def room_ticket(self, campaign_id: uuid.UUID) -> RoomTicket: ...


class Journal(Protocol):
    """The local changes the client reports stored (the offline store: `offline.py`)."""

    @property
    def latest(self) -> int:
        """The number of the latest local change."""
        ...

    @property
    def pending(self) -> int:
        """How many local changes the server has not confirmed storing."""
        ...

    def stored(self, up_to: int) -> None:
        """The server has stored every local change up to number `up_to`."""
        ...


class Channel(Protocol):
    """One connection to a room: pycrdt's Channel (send, and the messages received by iterating
    it, until the connection ends), plus closing it and why it closed."""

    async def send(self, message: bytes) -> None: ...

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...

    @property
    def close_code(self) -> int | None: ...

    @property
    def close_reason(self) -> str: ...


class WebSocketChannel:
    """A `Channel` over a WebSocket (the `websockets` library). Text and empty frames are not
    room messages: skipped."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str) -> WebSocketChannel:
        return cls(await websockets.connect(url, max_size=None))

    async def send(self, message: bytes) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(message)

    def __aiter__(self) -> WebSocketChannel:
        return self

    async def __anext__(self) -> bytes:
        while True:
            try:
                raw = await self.ws.recv()
            except websockets.ConnectionClosed:
                raise StopAsyncIteration from None
            if isinstance(raw, bytes) and raw:
                return raw

    async def close(self) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            await self.ws.close()

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    @property
    def close_reason(self) -> str:
        return self.ws.close_reason or ""


class UnreadableMessageError(Exception):
    """The room sent a message this client cannot read (the connection was ended for it)."""


class _RetryError(Exception):
    """The connection failed or dropped: try again after a backoff."""


class _StopError(Exception):
    """Trying again cannot help: the reason is for the user."""


class RoomClient:
    """Keeps `doc` in sync with a room, over one connection at a time."""

    def __init__(
        self,
        doc: Doc[Any] | None = None,
        *,
        timing: Timing | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.doc: Doc[Any] = doc if doc is not None else Doc()
        self.awareness = Awareness(self.doc)
        self.timing = timing or Timing()
        self.journal = journal
        self.read_only = False  # as the ticket says: then nothing is sent but presence
        self.status = SyncStatus.OFFLINE
        self.problem: str | None = None
        self.synced_once = False
        self.next_retry_in: float | None = None
        # The connection's: set when its initial sync completed, and when it ended (why: below).
        self.synced = anyio.Event()
        self.closed = anyio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self.updates_sent = 0  # on this connection (what the server's acks count)
        self.stored = 0  # the server's latest ack on this connection
        self.status_changed = Topic()  # status, problem, the pending count
        self.received = Topic()  # any message from the room, and the connection ending
        self._in_flight: list[tuple[int, int | None]] = []  # (send count, mark)
        self._handshaken = False  # our sync step 2 went out on this connection
        self._outbox: MemoryObjectSendStream[bytes] | None = None
        self._channel: Channel | None = None
        self._written = anyio.Event()
        self._presence_scheduled = False
        self._wake = anyio.Event()

    # Using it ----------------------------------------------------------------------------------

    def edit(self, change: Callable[[Doc[Any]], None]) -> None:
        """Change the document here (in one transaction)."""
        with self.doc.transaction(origin=LOCAL):
            change(self.doc)

    def send_update(self, update: bytes) -> None:
        """Send a change made here: at once while connected (a read-only role sends none);
        otherwise the next connection's step 2 carries it."""
        if self._outbox is None:
            return
        if not self.read_only:
            self._count_sent(self._latest() if self._handshaken else None)
            self._send(protocol.update_message(update))
        self._settle()

    def announce(self) -> None:
        """Send our awareness state (`awareness.set_local_state`) soon: once per burst."""
        if self._outbox is not None and not self._presence_scheduled:
            self._presence_scheduled = True
            soon(self._send_presence)

    def peers(self) -> dict[int, dict[str, Any]]:
        """Others in the room: their awareness states, by Yjs client id."""
        return {cid: s for cid, s in self.awareness.states.items() if cid != self.doc.client_id and s}

    async def send(self, message: bytes) -> None:
        """Send a message as it is (framed by `justmaily.shared.document.protocol`)."""
        self._send(message)

    async def wait_until(self, condition: Callable[[], bool], within: float = 10.0) -> None:
        """Wait, bounded, until `condition()` holds; checked again whenever the room sends
        something, the status changes or the connection ends."""
        with anyio.fail_after(within):
            while not condition():
                changed = anyio.Event()
                stop_status = self.status_changed.subscribe(changed.set)
                stop_received = self.received.subscribe(changed.set)
                try:
                    await changed.wait()
                finally:
                    stop_status()
                    stop_received()

    def retry_now(self) -> None:
        """Skip the rest of the backoff (the user pressed "Reconnect", or the network came back)."""
        self._wake.set()

    # One connection ---------------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def join(
        cls,
        url: str,
        doc: Doc[Any] | None = None,
        *,
        presence: dict[str, Any] | None = None,
        heartbeat: float | None = 1.0,
    ) -> AsyncIterator[Self]:
        """One connection to the room at `url` (a ticket's; add `&acks=1` for stored acks) for as
        long as the `async with` lasts, sending every change of `doc` not from the room. Leaving
        sends what is queued, then closes, as a well-behaved client does. No reconnection."""
        client = cls(doc, timing=Timing(heartbeat=heartbeat))
        if presence is not None:
            client.awareness.set_local_state(presence)

        def send_own(event: TransactionEvent) -> None:
            transaction: Any = event.transaction  # type: ignore[attr-defined]  # missing from pycrdt's stub
            if transaction.origin() != hash(REMOTE) and event.update != EMPTY_UPDATE:
                client.send_update(event.update)

        channel = await WebSocketChannel.open(url)
        subscription = client.doc.observe(send_own)
        try:
            async with anyio.create_task_group() as group:
                await group.start(client.serve, channel)
                try:
                    yield client
                finally:
                    client.doc.unobserve(subscription)
                    await client.leave()
        finally:
            await channel.close()

    async def serve(self, channel: Channel, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED) -> bool:
        """Sync over `channel` until the connection ends (or `leave()`); True if the initial sync
        completed. Started (`task_status`) once changes made here are sent. Raises
        `UnreadableMessageError` after ending a connection for such a message."""
        self.updates_sent, self.stored, self._in_flight, self._handshaken = 0, 0, [], False
        outbox, outgoing = anyio.create_memory_object_stream[bytes](10_000)
        self._outbox, self._channel, self._written = outbox, channel, anyio.Event()
        self._set_status(SyncStatus.SYNCING)
        synced = False
        unreadable: Exception | None = None
        try:
            async with outbox, anyio.create_task_group() as group:
                group.start_soon(self._write, channel, outgoing)
                group.start_soon(self._heartbeat)
                self._send(protocol.sync_step1(self.doc))
                self._renew_presence()
                task_status.started()
                async for raw in channel:
                    try:
                        synced = self._handle(raw) or synced
                    except (ValueError, IndexError, RuntimeError) as exc:  # a message we cannot read
                        unreadable = exc
                        break
                    finally:
                        self.received.emit()
                group.cancel_scope.cancel()
        finally:
            self._disconnected(channel)
        if unreadable is not None:
            raise UnreadableMessageError(
                f"The server sent a message this app cannot read ({unreadable})"
            ) from unreadable
        return synced

    async def leave(self) -> None:
        """End the connection as a well-behaved client: what is queued is sent, then it closes."""
        outbox, channel = self._outbox, self._channel
        if outbox is None or channel is None:
            return
        outbox.close()  # the writer sends what is queued, then stops
        with anyio.move_on_after(5):
            await self._written.wait()
        await channel.close()

    async def _write(self, channel: Channel, outgoing: MemoryObjectReceiveStream[bytes]) -> None:
        try:
            async with outgoing:
                async for message in outgoing:
                    await channel.send(message)
        finally:
            self._written.set()

    async def _heartbeat(self) -> None:
        """Keep the connection from counting as silent: renew presence (or ask for others')."""
        if self.timing.heartbeat is None:
            return
        while True:
            await anyio.sleep(self.timing.heartbeat)
            if not self._renew_presence():
                self._send(protocol.QUERY_AWARENESS_MESSAGE)

    def _disconnected(self, channel: Channel) -> None:
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None
        self._channel = None
        self.close_code, self.close_reason = channel.close_code, channel.close_reason
        others = [cid for cid in self.awareness.states if cid != self.doc.client_id]
        if others:  # what we knew of others is stale now
            self.awareness.remove_awareness_states(others, REMOTE)
        self._set_status(SyncStatus.OFFLINE)
        self.closed.set()
        self.received.emit()

    def _send(self, message: bytes) -> None:
        if self._outbox is not None:
            with contextlib.suppress(anyio.ClosedResourceError, anyio.WouldBlock):
                self._outbox.send_nowait(message)

    # Messages ---------------------------------------------------------------------------------

    def _handle(self, raw: bytes) -> bool:
        """Apply one message from the room; True when it completed the initial sync."""
        try:
            message = protocol.parse(raw)
        except protocol.UnknownMessageError:
            return False  # a newer server's extra: not for this client
        if message.kind is Kind.SYNC_STEP1:
            if not self.read_only:
                # Everything changed here so far, including since connecting, goes in this reply.
                update = self.doc.get_update(message.payload)
                if update != EMPTY_UPDATE:
                    self._count_sent(self._latest())
                self._send(protocol.sync_step2(update))
                if update == EMPTY_UPDATE and self.journal is not None and self.journal.pending:
                    # The server has all of it already (an ack lost with a dropped connection).
                    self._confirm(self.journal.latest)
            self._handshaken = True
            return False
        if message.carries_update:
            with self.doc.transaction(origin=REMOTE):
                self.doc.apply_update(message.payload)
            if message.kind is Kind.SYNC_STEP2:
                self.synced_once = True
                self.synced.set()
                self._settle()
                return True
        elif message.kind is Kind.AWARENESS:
            self.awareness.apply_awareness_update(message.payload, REMOTE)
        elif message.kind is Kind.STORED:
            self.stored = message.count
            self._acknowledged(message.count)
        return False

    def _latest(self) -> int | None:
        return self.journal.latest if self.journal is not None else None

    def _count_sent(self, mark: int | None) -> None:
        self.updates_sent += 1
        self._in_flight.append((self.updates_sent, mark))

    def _acknowledged(self, stored: int) -> None:
        confirmed: int | None = None
        while self._in_flight and self._in_flight[0][0] <= stored:
            confirmed = self._in_flight.pop(0)[1] or confirmed
        if confirmed is not None:
            self._confirm(confirmed)

    def _confirm(self, up_to: int) -> None:
        if self.journal is not None:
            self.journal.stored(up_to)
        self.status_changed.emit()
        self._settle()

    def _settle(self) -> None:
        if self._outbox is not None and self.synced_once:
            pending = self.journal.pending if self.journal is not None else 0
            self._set_status(SyncStatus.SYNCING if pending else SyncStatus.ONLINE)

    def _set_status(self, status: SyncStatus) -> None:
        if status != self.status:
            self.status = status
            if status in (SyncStatus.ONLINE, SyncStatus.SYNCING):
                self.problem = None
            self.status_changed.emit()

    # Presence ---------------------------------------------------------------------------------

    def _renew_presence(self) -> bool:
        """Send our awareness state again with a new clock (so others keep it); False if we have
        none to send."""
        state = self.awareness.get_local_state()
        if state is None:
            return False
        self.awareness.set_local_state(state)
        self._send_presence()
        return True

    def _send_presence(self) -> None:
        self._presence_scheduled = False
        if self._outbox is not None:
            update = self.awareness.encode_awareness_update([self.doc.client_id])
            self._send(protocol.awareness_message(update))

    # Staying connected ------------------------------------------------------------------------

    async def run(self, access: RoomAccess, campaign_id: uuid.UUID) -> None:
        """Keep connected until cancelled, with a new ticket per connection and backoff while
        the server is away. Returns when the server refused for good (`status` STOPPED,
        `problem` says why)."""
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
                        await self._session(access, campaign_id)
            except _StopError as stop:
                self.problem = str(stop)
                self._set_status(SyncStatus.STOPPED)
                return

    def _going_offline(self, state: RetryCallState) -> None:
        self.next_retry_in = state.upcoming_sleep
        outcome = state.outcome.exception() if state.outcome is not None else None
        self.problem = str(outcome) if outcome else None
        self._set_status(SyncStatus.OFFLINE)
        self.status_changed.emit()  # the retry's countdown, also when the status stays OFFLINE

    async def _nap(self, seconds: float) -> None:
        self._wake = anyio.Event()
        with anyio.move_on_after(seconds):
            await self._wake.wait()
        self.next_retry_in = None

    async def _session(self, access: RoomAccess, campaign_id: uuid.UUID) -> None:
        self._set_status(SyncStatus.CONNECTING)
        try:
            ticket = await access.room_ticket(campaign_id)
        except DesktopError as exc:
            if exc.kind in (ErrorKind.UNREACHABLE, ErrorKind.SERVER, ErrorKind.BUSY):
                raise _RetryError(str(exc)) from exc
            raise _StopError(str(exc)) from exc
        self.read_only = ticket.read_only
        try:
            with anyio.fail_after(self.timing.connect_timeout):
                channel = await WebSocketChannel.open(f"{ticket.url}&acks=1")
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            raise _RetryError(f"Cannot open the live connection: {exc}") from exc
        self.synced, self.closed = anyio.Event(), anyio.Event()
        synced = False
        started = time.monotonic()
        try:
            synced = await self.serve(channel)
        except UnreadableMessageError as exc:
            raise _RetryError(str(exc)) from exc
        finally:
            await channel.close()
        code = channel.close_code
        if code == CloseCode.NO_SUCH_ROOM:
            raise _StopError("This campaign no longer exists in your workspace")
        if synced and time.monotonic() - started > self.timing.backoff_max:
            return  # a connection that worked for a while: reconnect at once, backoff starts afresh
        # Anything else (a new ticket or role needed, a server closing us at once) waits its turn,
        # so a server that keeps refusing is not hammered.
        raise _RetryError(f"The server closed the live connection ({code} {channel.close_reason})".strip())
