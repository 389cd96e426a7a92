"""A room's broadcast, in-process: each change and each presence update is encoded once, and
that one message goes to every peer (no copy, no task per peer)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from pycrdt import Doc, Text, create_awareness_message

from justmaily.server.collaboration.broadcast import BroadcastRoom
from justmaily.shared.document import protocol


class Deliveries:
    """Wakes a test waiting for something to be delivered."""

    def __init__(self) -> None:
        self.event = anyio.Event()

    def happened(self) -> None:
        self.event.set()
        self.event = anyio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        with anyio.fail_after(5):
            while not condition():
                await self.event.wait()


class InMemoryPeer:
    """A peer of the room in this process: what it sends comes from a memory stream, what the
    room delivers is kept in order."""

    def __init__(self, deliveries: Deliveries) -> None:
        self.delivered: list[bytes] = []
        self.deliveries = deliveries
        self.outgoing, self._incoming = anyio.create_memory_object_stream[bytes](100)

    def deliver(self, message: bytes) -> None:
        self.delivered.append(message)
        self.deliveries.happened()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async with self._incoming:
            async for message in self._incoming:
                yield message


async def test_a_change_is_encoded_once_and_the_same_message_goes_to_every_peer() -> None:
    doc: Doc[Any] = Doc()
    room = BroadcastRoom(doc)
    deliveries = Deliveries()
    peers = [InMemoryPeer(deliveries) for _ in range(4)]
    async with room, anyio.create_task_group() as group:
        await room.ydoc_observed.wait()
        for peer in peers:
            group.start_soon(room.serve_peer, peer)
        await deliveries.until(lambda: all(peer.delivered for peer in peers))  # their sync step 1
        encoded = room.encoded

        doc.get("body", type=Text).insert(0, "Spring sale")  # a server-side edit

        assert room.encoded == encoded + 1
        sent = peers[0].delivered[-1]
        assert protocol.parse(sent).kind is protocol.Kind.SYNC_UPDATE
        assert all(peer.delivered[-1] is sent for peer in peers)  # one object, not a copy each

        # A peer's edit reaches every peer (its sender too, as y-websocket does) as one message.
        theirs: Doc[Any] = Doc()
        theirs.get("body", type=Text).insert(0, "Hello ")
        await peers[1].outgoing.send(protocol.update_message(theirs.get_update()))
        await deliveries.until(lambda: room.encoded == encoded + 2)
        assert all(peer.delivered[-1] is peers[0].delivered[-1] for peer in peers)

        # Presence: relayed as one message to all.
        update = protocol.write_awareness([protocol.PresenceState(7, 1, '{"user":{"name":"Ann"}}')])
        await peers[2].outgoing.send(create_awareness_message(update))
        await deliveries.until(lambda: room.encoded == encoded + 3)
        relayed = peers[2].delivered[-1]
        assert protocol.parse(relayed).kind is protocol.Kind.AWARENESS
        assert all(peer.delivered[-1] is relayed for peer in peers)
        assert room.awareness.states[7] == {"user": {"name": "Ann"}}

        for peer in peers:
            peer.outgoing.close()
    assert not room.peers
