"""Unix channels between the workers of one machine: a connection's socket handed to its owner
(SCM_RIGHTS), and fan-out notes (what one worker stored, for the rooms the others hold).

One `SOCK_SEQPACKET` pair per two workers, made by the supervisor before it forks and kept open
by it: a worker restarted with the same index finds its ends (and whatever was queued for it)
where its predecessor left them. Sends never block: a full channel means a dead or stuck peer.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import structlog

_SOCKET, _NOTE = b"S", b"N"
_MAX_NOTE = 60_000  # below the default socket buffer: one note never fills a channel alone
log = structlog.get_logger(__name__)

Ends = dict[int, socket.socket]


def channel_mesh(workers: int) -> list[Ends]:
    """For each worker, its ends of the channels to every other worker."""
    ends: list[Ends] = [{} for _ in range(workers)]
    for a in range(workers):
        for b in range(a + 1, workers):
            ends[a][b], ends[b][a] = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for worker in ends:
        for end in worker.values():
            end.setblocking(False)
    return ends


class Channels:
    """One worker's view of the mesh: hand sockets over, broadcast notes, receive both."""

    def __init__(self, index: int, ends: Ends) -> None:
        self.index = index
        self.ends = ends
        self._deliver: Callable[[bytes], None] | None = None
        self._early: list[bytes] = []  # notes that came before anyone listened
        self._loop: asyncio.AbstractEventLoop | None = None

    # Sending -----------------------------------------------------------------------------

    def hand_over(self, owner: int, connection: socket.socket) -> bool:
        """Pass the connection to its owner; False if the owner cannot take it now."""
        try:
            socket.send_fds(self.ends[owner], [_SOCKET], [connection.fileno()])
        except (BlockingIOError, ConnectionError, OSError) as exc:
            log.warning("worker_handover_failed", owner=owner, error=str(exc))
            return False
        return True

    def broadcast(self, note: bytes) -> None:
        """A fan-out note to every other worker (`collaboration.fanout.Link`)."""
        if len(note) > _MAX_NOTE:
            log.warning("worker_note_too_large", bytes=len(note))
            return
        for peer, end in self.ends.items():
            try:
                end.send(_NOTE + note)
            except (BlockingIOError, ConnectionError, OSError) as exc:
                # A dead worker's channel fills up; its successor loads rooms from the store.
                log.warning("worker_note_dropped", peer=peer, error=str(exc))

    # Receiving ---------------------------------------------------------------------------

    def listen(self, deliver: Callable[[bytes], None]) -> None:
        """Notes from the other workers go to `deliver` from now on (`collaboration.fanout.Link`)."""
        self._deliver = deliver
        early, self._early = self._early, []
        for note in early:
            deliver(note)

    def start(self, loop: asyncio.AbstractEventLoop, on_socket: Callable[[socket.socket], None]) -> None:
        self._loop = loop
        for end in self.ends.values():
            loop.add_reader(end.fileno(), self._receive, end, on_socket)

    def stop(self) -> None:
        if self._loop is not None:
            for end in self.ends.values():
                self._loop.remove_reader(end.fileno())
            self._loop = None

    def _receive(self, end: socket.socket, on_socket: Callable[[socket.socket], None]) -> None:
        for _ in range(256):  # then let the loop run other work; the reader fires again
            try:
                message, fds, _flags, _address = socket.recv_fds(end, _MAX_NOTE + 1, 4)
            except (BlockingIOError, InterruptedError):
                return
            if not message and not fds:  # the other end closed (only as the supervisor exits)
                if self._loop is not None:
                    self._loop.remove_reader(end.fileno())
                return
            for fd in fds:
                on_socket(socket.socket(fileno=fd))
            if message.startswith(_NOTE):
                self._note(message[1:])

    def _note(self, note: bytes) -> None:
        if self._deliver is None:
            self._early.append(note)
        else:
            self._deliver(note)
