"""One client of a room: a Litestar WebSocket adapted to pycrdt's Channel, with the checks.

Every message passes here before the room (`broadcast.py`) sees it: size and rate limits,
protocol checks, read-only enforcement, the document's total size, update validation and
persistence, presence (only the connection's own, under its principal's name: `presence.py`).
A client that breaks a rule is closed with a documented code (justmaily.shared.collaboration
.CloseCode); the room and its other clients carry on.

What the room sends goes out through `deliver`, which never waits: written at once while the
client keeps up, else queued, and a client whose queue passes `ConnectionLimits.max_backlog_bytes`
is closed (FELL_BEHIND) rather than let the server's memory grow.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

import anyio
import structlog
from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect
from litestar.types import WebSocketSendEvent
from pycrdt import Doc

from justmaily.server.collaboration.presence import stamped
from justmaily.server.http.rate_limit import Rates
from justmaily.server.identity.principal import Principal
from justmaily.shared.collaboration import EMPTY_UPDATE, CloseCode
from justmaily.shared.document.protocol import (
    BadMessageError,
    Kind,
    Message,
    PresenceState,
    awareness_message,
    parse_from_client,
    read_awareness,
    stored_message,
    write_awareness,
)

if TYPE_CHECKING:
    from justmaily.server.collaboration.rooms import CampaignRoom

log = structlog.get_logger(__name__)


class ConnectionLimits:
    def __init__(
        self, max_message_bytes: int, rates: Rates, silent_seconds: float, max_document_bytes: int
    ) -> None:
        self.max_message_bytes = max_message_bytes
        self.rates = rates
        self.silent_seconds = silent_seconds
        self.max_document_bytes = max_document_bytes

    @property
    def max_unstored_bytes(self) -> int:
        """How much of a room's clients' updates may wait for the database: two whole documents."""
        return 2 * self.max_document_bytes

    @property
    def max_backlog_bytes(self) -> int:
        """How much the server queues for a client that reads slower than the room talks: two of
        the largest messages a client may send (one message, however large, may always wait)."""
        return 2 * self.max_message_bytes


class TokenBuckets:
    """One token bucket per rate, held by the connection: O(1) per message.

    (A shared moving-window store keeps every message's timestamp for every connection and
    sweeps them all periodically: at thousands of connections, second-long pauses.)"""

    def __init__(self, rates: Rates) -> None:
        self._buckets = [[float(r.amount), float(r.amount), r.amount / r.get_expiry()] for r in rates]
        self._last = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        elapsed, self._last = now - self._last, now
        allowed = True
        for bucket in self._buckets:
            capacity, tokens, per_second = bucket
            bucket[1] = tokens = min(capacity, tokens + elapsed * per_second)
            allowed = allowed and tokens >= 1
        if allowed:
            for bucket in self._buckets:
                bucket[1] -= 1
        return allowed


class Connection:
    """pycrdt Channel over a Litestar WebSocket; `recv` admits only what the rules allow."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        principal: Principal,
        room: CampaignRoom,
        limits: ConnectionLimits,
        *,
        read_only: bool,
        wants_acks: bool,
    ) -> None:
        self.socket = socket
        self.principal = principal
        self.room = room
        self.limits = limits
        self.read_only = read_only
        self.wants_acks = wants_acks
        self.id = uuid.uuid4().hex
        self.client_id: int | None = None  # the Yjs client whose presence this connection sends
        self.updates_received = 0
        self.closed = False
        self._backlog: deque[bytes] = deque()  # what could not be written yet, oldest first
        self._backlog_bytes = 0
        self._draining = False  # a task is writing the backlog (`_drain`)
        self._fell_behind = False
        self._last_stamped: tuple[str, str] | None = None  # a presence state as sent, and as stamped
        self._budget = TokenBuckets(limits.rates)
        self._log = log.bind(connection=self.id, campaign=str(room.campaign_id), principal=str(principal.id))

    @property
    def path(self) -> str:
        return f"/campaigns/{self.room.campaign_id}/{self.id}"

    def __aiter__(self) -> Connection:
        return self

    async def __anext__(self) -> bytes:
        return await self.recv()

    async def send(self, message: bytes) -> None:
        self.deliver(message)

    def deliver(self, message: bytes) -> None:
        """Send `message` after everything sent before it, without waiting: written now if the
        client keeps up, else queued for `_drain`. Past the backlog's bound the queue is
        dropped and the client closed (FELL_BEHIND): it reconnects and syncs what it missed."""
        if self.closed:
            return
        if not self._draining:
            if self._write_now(message):
                return
            self._draining = True
            self.room.spawn(self._drain)
        self._backlog.append(message)
        self._backlog_bytes += len(message)
        if self._backlog_bytes > self.limits.max_backlog_bytes and len(self._backlog) > 1:
            self._log.info("room_connection_fell_behind", queued=self._backlog_bytes)
            self._backlog.clear()
            self._backlog_bytes = 0
            self._fell_behind = self.closed = True  # `_drain` closes it once it can

    def _write_now(self, message: bytes) -> bool:
        """Run the send up to the point where it would wait: the WebSocket's buffer is full
        (uvicorn awaits the transport's drain before it frames and writes anything). True when
        done (or the connection is gone); False, having written nothing, when it would wait."""
        event: WebSocketSendEvent = {"type": "websocket.send", "bytes": message, "text": None}
        sending = cast("Coroutine[Any, Any, None]", self.socket.send(event))
        try:
            sending.send(None)
        except StopIteration:
            return True
        except Exception:
            self.closed = True  # gone: the room must carry on
            return True
        sending.close()
        return False

    async def _drain(self) -> None:
        try:
            while self._backlog and not self.closed:
                message = self._backlog.popleft()
                self._backlog_bytes -= len(message)
                await self.socket.send_bytes(message)
            if self._fell_behind:
                reason = "you fell too far behind the room's messages; reconnect"
                await self._close(CloseCode.FELL_BEHIND, reason)
        except Exception:
            self.closed = True
        finally:
            self._draining = False

    async def close(self, code: CloseCode, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        await self._close(code, reason)

    async def _close(self, code: CloseCode, reason: str) -> None:
        self._log.info("room_connection_closed", code=int(code), reason=reason)
        try:
            await self.socket.close(code=int(code), reason=reason[:120])
        except Exception:
            return

    async def stored(self, count: int) -> None:
        if self.wants_acks:
            self.deliver(stored_message(count))

    async def recv(self) -> bytes:
        while not self.closed:
            raw = await self._receive()
            if raw is None:
                break
            admitted = await self._admit(raw)
            if admitted is not None:
                return admitted
        raise StopAsyncIteration

    async def _receive(self) -> bytes | None:
        try:
            with anyio.fail_after(self.limits.silent_seconds):
                event = await self.socket.receive()
        except TimeoutError:
            await self.close(CloseCode.SILENT, f"nothing received for {self.limits.silent_seconds:g} s")
            return None
        except WebSocketDisconnect:
            self.closed = True
            return None
        if event["type"] == "websocket.disconnect":
            self.closed = True
            return None
        data = event.get("bytes")
        if not isinstance(data, bytes):
            await self.close(CloseCode.BAD_MESSAGE, "text frames are not Yjs messages: send binary")
            return None
        return data

    async def _admit(self, raw: bytes) -> bytes | None:
        """The message the room should process (as received, or its presence rewritten); None
        to drop it."""
        message = await self._checked(raw)
        if message is None:
            return None
        if message.kind is Kind.AWARENESS:
            if not message.payload:  # nothing of its own in it
                return None
            await self.room.presence_changed(message.payload)
            return awareness_message(message.payload)
        if message.kind is Kind.QUERY_AWARENESS:
            self.deliver(self.room.awareness_snapshot())
            return None
        if message.carries_update and not await self._accept_update(message.payload):
            return None
        return raw

    async def _checked(self, raw: bytes) -> Message | None:
        """The message parsed, within the limits, an update decoded, a presence update cut down
        to this connection's own (`_own_presence`); None if the connection was closed for it."""
        if len(raw) > self.limits.max_message_bytes:
            await self.close(
                CloseCode.MESSAGE_TOO_LARGE, f"message over {self.limits.max_message_bytes} bytes"
            )
            return None
        if not self._budget.take():
            await self.close(CloseCode.TOO_MANY_MESSAGES, "too many messages")
            return None
        try:
            message = parse_from_client(raw)
            if message.kind is Kind.AWARENESS:
                return Message(Kind.AWARENESS, self._own_presence(message.payload) or b"")
            if message.carries_update:
                Doc().apply_update(message.payload)  # decodes the whole update, or raises
        except (BadMessageError, ValueError, RuntimeError) as exc:
            await self.close(CloseCode.BAD_MESSAGE, f"bad message: {exc}")
            return None
        return message

    async def _accept_update(self, update: bytes) -> bool:
        """Queue a writer's update for storing; False to keep it from the room (refused)."""
        if self.read_only:
            if update != EMPTY_UPDATE:
                self._log.info("room_update_refused", reason="read-only role")
            return False
        if update == EMPTY_UPDATE:
            return True
        limit = self.limits.max_document_bytes
        if not self.room.admits(len(update), limit):
            self._log.info("room_update_refused", reason="document too large", limit=limit)
            await self.close(
                CloseCode.DOCUMENT_TOO_LARGE,
                f"the document would be over {limit} bytes: undo your latest changes",
            )
            return False
        if not self.room.may_queue(len(update), self.limits.max_unstored_bytes):
            self._log.warning("room_update_refused", reason="storing is behind", unstored=self.room.unstored)
            await self.close(CloseCode.INTERNAL_ERROR, "could not store your edits in time; reconnect")
            return False
        self.updates_received += 1
        self.room.store_later(update, self, self.updates_received)
        return True

    def _stamped(self, state: str) -> str:
        """`stamped`, remembered for the last state: a renewal (every 15 s per client) sends the
        same state again with a new clock, and costs no JSON work then."""
        if self._last_stamped is None or self._last_stamped[0] != state:
            self._last_stamped = (state, stamped(state, self.principal))
        return self._last_stamped[1]

    def _own_presence(self, update: bytes) -> bytes | None:
        """The awareness update with only this connection's own client in it, its identity
        stamped; None if nothing of it is ours (a stock client echoing others' presence)."""
        entries = read_awareness(update)
        if self.client_id is None:
            claimable = (e.client_id for e in entries if self.room.claimable(e.client_id, self))
            self.client_id = next(claimable, None)
        own = [
            PresenceState(e.client_id, e.clock, self._stamped(e.state))
            for e in entries
            if e.client_id == self.client_id
        ]
        if len(own) < len(entries):
            others = [e.client_id for e in entries if e.client_id != self.client_id]
            self._log.debug("room_presence_of_others_dropped", clients=others)
        return write_awareness(own) if own else None
