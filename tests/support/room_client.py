"""A Yjs client of a JustMaily room over a real WebSocket: sync, awareness and "stored" acks.

Plain Python (pycrdt + websockets), for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
import websockets
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from pycrdt import Awareness, Doc, Text, TransactionEvent

from justmaily.shared.collaboration import EMPTY_UPDATE
from justmaily.shared.document import protocol
from justmaily.shared.document.protocol import Kind

LOCAL = "local-edit"


class RoomClient:
    def __init__(
        self,
        url: str,
        doc: Doc[Any] | None = None,
        *,
        presence: dict[str, Any] | None = None,
        heartbeat_seconds: float | None = 1.0,
    ) -> None:
        self.url = url
        self.doc: Doc[Any] = doc if doc is not None else Doc()
        self.awareness = Awareness(self.doc)
        self.presence = presence
        self.heartbeat_seconds = heartbeat_seconds
        self.synced = anyio.Event()
        self.closed = anyio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self.updates_sent = 0
        self.stored = 0
        self._changed = anyio.Event()
        self._written = anyio.Event()
        self._outbox: MemoryObjectSendStream[bytes]
        self._outgoing: MemoryObjectReceiveStream[bytes]
        self._outbox, self._outgoing = anyio.create_memory_object_stream[bytes](1000)
        self._stack = AsyncExitStack()
        self._group: TaskGroup | None = None

    async def __aenter__(self) -> RoomClient:
        self.ws = await self._stack.enter_async_context(websockets.connect(self.url, max_size=None))
        self._group = await self._stack.enter_async_context(anyio.create_task_group())
        self._subscription = self.doc.observe(self._on_transaction)
        self._group.start_soon(self._read)
        self._group.start_soon(self._write)
        await self.send(protocol.sync_step1(self.doc))
        if self.presence is not None:
            self.awareness.set_local_state(self.presence)
            await self.announce()
        if self.heartbeat_seconds:
            self._group.start_soon(self._heartbeat)
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Leave like a well-behaved client: what was queued is sent, then the socket closes."""
        self.doc.unobserve(self._subscription)
        self._outbox.close()  # the writer sends what is queued, then stops
        with anyio.move_on_after(5):
            await self._written.wait()
        if self._group is not None:
            self._group.cancel_scope.cancel()
        await self._stack.aclose()
        self._outgoing.close()

    # Editing and presence -------------------------------------------------------------------

    def edit(self, change: Callable[[Doc[Any]], None]) -> None:
        with self.doc.transaction(origin=LOCAL):
            change(self.doc)

    async def announce(self) -> None:
        update = self.awareness.encode_awareness_update([self.doc.client_id])
        await self.send(protocol.awareness_message(update))

    @property
    def body(self) -> str:
        return body(self.doc)

    def peers(self) -> dict[int, dict[str, Any]]:
        return {cid: s for cid, s in self.awareness.states.items() if cid != self.doc.client_id and s}

    async def send(self, message: bytes) -> None:
        with contextlib.suppress(anyio.ClosedResourceError):
            await self._outbox.send(message)

    async def wait_until(self, condition: Callable[[], bool], within: float = 10.0) -> None:
        with anyio.fail_after(within):
            while not condition():
                self._changed = anyio.Event()
                await self._changed.wait()

    # Internals -------------------------------------------------------------------------------

    def _on_transaction(self, event: TransactionEvent) -> None:
        transaction: Any = event.transaction  # type: ignore[attr-defined]  # missing from pycrdt's stub
        if transaction.origin() == hash(LOCAL):
            self.updates_sent += 1
            with contextlib.suppress(anyio.ClosedResourceError):
                self._outbox.send_nowait(protocol.update_message(event.update))

    async def _write(self) -> None:
        try:
            async for message in self._outgoing:
                await self.ws.send(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._written.set()

    async def _heartbeat(self) -> None:
        """Keep the connection from counting as silent: renew presence (or ask for others')."""
        assert self.heartbeat_seconds
        while True:
            await anyio.sleep(self.heartbeat_seconds)
            await (
                self.announce() if self.presence is not None else self.send(protocol.QUERY_AWARENESS_MESSAGE)
            )

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                assert isinstance(raw, bytes)
                self._handle(raw)
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason or ""
            self.closed.set()
            self._changed.set()

    def _handle(self, raw: bytes) -> None:
        message = protocol.parse(raw)
        if message.kind is Kind.SYNC_STEP1:
            update = self.doc.get_update(message.payload)
            # A step-2 reply that carries changes counts as an update (STORED_MESSAGE_TYPE).
            if update != EMPTY_UPDATE:
                self.updates_sent += 1
            with contextlib.suppress(anyio.ClosedResourceError):
                self._outbox.send_nowait(protocol.sync_step2(update))
        elif message.carries_update:
            self.doc.apply_update(message.payload)
            if message.kind is Kind.SYNC_STEP2:
                self.synced.set()
        elif message.kind is Kind.AWARENESS:
            self.awareness.apply_awareness_update(message.payload, "remote")
        elif message.kind is Kind.STORED:
            self.stored = message.count


def body(doc: Doc[Any]) -> str:
    """The document's body text (the shared text third-party clients edit)."""
    return str(doc.get("body", type=Text))


def presence(name: str, colour: str = "#3366ff") -> dict[str, Any]:
    return {"user": {"name": name, "color": colour}, "cursor": None, "status": "online"}
