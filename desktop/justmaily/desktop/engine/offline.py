"""One open campaign's document in the local store: what makes it work offline.

Every change of the document, local or from the room, is appended to the store under the next
number (`seq`), in the order it happened. Local ones stay pending until the server confirms
storing them (the room's "stored" acks, through `RoomClient`): they survive a restart and are
sent again. The store's writes go through one queue, in order, off the typing path: a keystroke
never waits for the disk, and closing the campaign writes what is queued first.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from pycrdt import Doc

from justmaily.desktop.engine.local_store import LocalStore, StoredUpdate
from justmaily.desktop.engine.room_client import LOADED


async def _awaited(result: Any) -> None:
    if result is not None:
        await result


class OfflineLog:
    """The `Journal` of a campaign's room client, kept in the local store."""

    def __init__(self, campaign_id: uuid.UUID, store: LocalStore) -> None:
        self.campaign_id = campaign_id
        self.store = store
        self.seq = 0  # the number of the latest change
        self._pending: list[int] = []  # local seqs not yet confirmed, ascending
        self._writes: MemoryObjectSendStream[Callable[[], Any]]
        self._write_queue: MemoryObjectReceiveStream[Callable[[], Any]]
        # Unbounded: a write is never refused (the disk being slow must not drop a keystroke).
        self._writes, self._write_queue = anyio.create_memory_object_stream[Callable[[], Any]](math.inf)
        self._writing = False

    @property
    def latest(self) -> int:
        return self.seq

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def load(self, doc: Doc[Any]) -> None:
        """Fill `doc` from the store (works offline)."""
        rows = await self.store.updates(self.campaign_id)
        with doc.transaction(origin=LOADED):
            for row in rows:
                doc.apply_update(row.data)
        self.seq = max((row.seq for row in rows), default=0)
        self._pending = [row.seq for row in rows if row.pending]
        await self.store.compact(self.campaign_id)

    def record(self, update: bytes, *, local: bool) -> int:
        """Append a change to the store (soon, in order); local ones are pending. Its number."""
        self.seq += 1
        row = StoredUpdate(self.seq, update, local)
        self._queue_write(lambda: self.store.append(self.campaign_id, [row]))
        if local:
            self._pending.append(self.seq)
        return self.seq

    def stored(self, up_to: int) -> None:
        """The server has stored every local change up to `up_to`: no longer pending."""
        self._pending = [seq for seq in self._pending if seq > up_to]
        self._queue_write(lambda: self.store.confirm(self.campaign_id, up_to))

    # Writes, in order, off the typing path -----------------------------------------------------

    def _queue_write(self, write: Callable[[], Any]) -> None:
        try:
            self._writes.send_nowait(write)
        except anyio.ClosedResourceError:
            return  # closed: nothing can be typed into a closed campaign

    async def write_forever(self) -> None:
        """Write what is queued as it comes, until cancelled; then what is still queued."""
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

    async def flush(self) -> None:
        """Wait until every change so far is in the local store."""
        if not self._writing:  # `write_forever()` is not (or no longer) running: write here
            await self._drain()
            return
        done = anyio.Event()
        await self._writes.send(done.set)
        await done.wait()

    async def _drain(self) -> None:
        while True:
            try:
                write = self._write_queue.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return
            await _awaited(write())

    def close(self) -> None:
        self._writes.close()
        self._write_queue.close()
