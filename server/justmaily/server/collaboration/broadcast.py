"""pycrdt-websocket's YRoom with a broadcast that costs one encoding per change, not a task per client.

The stock room (0.16.5) queues each document change for a task of its own, which then starts a
task per client to send it (`start_soon(client.send, message)`), and relays presence the same
way: at 500 edits a second to rooms of five, thousands of tasks a second, each costing more
than the send itself (docs/design/processes.md measured 33 µs a delivery against 12 µs for a
plain loop). Here the document's observer encodes each change once, as it is committed, and
hands that one message to every peer, which sends it at once or queues it if its client falls
behind (`Connection.deliver`: bounded, never waits).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

import structlog
from pycrdt import (
    Doc,
    TransactionEvent,
    YMessageType,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    is_awareness_disconnect_message,
    read_message,
)
from pycrdt.websocket import YRoom

from justmaily.server.metrics.instruments import ROOM_RELAY

log = structlog.get_logger(__name__)
_SYNC_UPDATE = bytes([YMessageType.SYNC, 2])  # y-protocols: sync message, update


class Peer(Protocol):
    """A client of the room: the messages it sent (async iteration), and `deliver`, which sends
    a message without waiting (queued if need be)."""

    def deliver(self, message: bytes) -> None: ...

    def __aiter__(self) -> AsyncIterator[bytes]: ...


class BroadcastRoom(YRoom):
    def __init__(self, doc: Doc[Any]) -> None:
        super().__init__(ready=True, ydoc=doc, log=structlog.get_logger("pycrdt.websocket"))
        self.peers: set[Peer] = set()
        self.encoded = 0  # broadcasts encoded (one per change, whatever the number of peers)

    async def _watch_ready(self) -> None:
        await self.ready_event.wait()
        self._subscription = self.ydoc.observe(self._changed)
        self.ydoc_observed.set()

    async def _broadcast_updates(self) -> None:
        """Nothing is queued for it (`_changed` broadcasts each change as it is committed): its
        stream is closed at once."""
        self._update_send_stream.close()
        self._update_receive_stream.close()

    def _changed(self, event: TransactionEvent) -> None:
        self.broadcast(create_update_message(event.update))

    def broadcast(self, message: bytes, *, sender: Peer | None = None) -> None:
        """One message to every peer (but `sender`, if given)."""
        self.encoded += 1
        for peer in self.peers:
            if peer is not sender:
                peer.deliver(message)

    async def serve_peer(self, peer: Peer) -> None:
        """The sync and awareness protocols with one peer, until it leaves. Its messages come
        checked (`Connection.recv`)."""
        self.peers.add(peer)
        try:
            peer.deliver(create_sync_message(self.ydoc))
            async for message in peer:
                try:
                    started = time.perf_counter()
                    self._handle(peer, message)
                    if message[:2] == _SYNC_UPDATE:  # an edit, applied and handed to every peer
                        ROOM_RELAY.observe(time.perf_counter() - started)
                except Exception:  # as the stock room: one bad message does not end the connection
                    log.exception("room_message_failed", kind=message[0])
        finally:
            self.peers.discard(peer)

    def _handle(self, peer: Peer, message: bytes) -> None:
        if message[0] == YMessageType.SYNC:
            reply = handle_sync_message(message[1:], self.ydoc)  # changes go out via `_changed`
            if reply is not None:
                peer.deliver(reply)
        elif message[0] == YMessageType.AWARENESS:
            # To everyone, the sender too (a stock client takes it as a sign of life), except a
            # client's farewell, which its closing connection could not receive.
            leaving = is_awareness_disconnect_message(message[1:])
            self.broadcast(message, sender=peer if leaving else None)
            self.awareness.apply_awareness_update(read_message(message[1:]), peer)
