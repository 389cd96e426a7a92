"""One worker: uvicorn's HTTP and WebSocket protocols on sockets this worker accepts itself
from the shared listening socket, or that another worker hands over.

Accepting ourselves (instead of `loop.create_server`) is what lets a worker look at a
connection's first request line before serving it: the line is peeked (`MSG_PEEK`, it stays in
the kernel's buffer), and a room's WebSocket goes to the worker that owns the room.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import structlog
import uvicorn

from justmaily.server.workers.channels import Channels
from justmaily.server.workers.routing import owner_of

_PEEK_BYTES = 2048  # a request line longer than this is not a room's
_PEEK_PATIENCE_SECONDS = 5.0
log = structlog.get_logger(__name__)


class Worker(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        listener: socket.socket,
        channels: Channels,
        workers: int,
        on_started: Callable[[], None],
    ) -> None:
        super().__init__(config)
        self.listener = listener
        self.channels = channels
        self.workers = workers
        self.on_started = on_started
        self._protocol: Callable[[], asyncio.Protocol] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._peeking: set[asyncio.Task[None]] = set()

    @property
    def index(self) -> int:
        return self.channels.index

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app's lifespan; no listener of uvicorn's own
        loop = asyncio.get_running_loop()
        self._loop = loop
        config, state, app_state = self.config, self.server_state, self.lifespan.state

        def protocol() -> asyncio.Protocol:
            made: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=state, app_state=app_state, _loop=loop
            )
            return made

        self._protocol = protocol
        self.channels.start(loop, self._serve_connection)
        loop.add_reader(self.listener.fileno(), self._accept)
        self.on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.listener.fileno())
        self.channels.stop()
        for task in list(self._peeking):
            task.cancel()
        await super().shutdown(sockets=None)

    # Accepting ---------------------------------------------------------------------------

    def _accept(self) -> None:
        for _ in range(64):  # a burst, then the loop's other work; the reader fires again
            try:
                connection, _address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return  # another worker took it
            except OSError as exc:  # out of descriptors, say: keep serving those we have
                log.warning("worker_accept_failed", error=str(exc))
                return
            connection.setblocking(False)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            line = _peek_line(connection)
            if line is None:
                self._wait_for_line(connection)
            else:
                self._route(connection, line)

    def _wait_for_line(self, connection: socket.socket) -> None:
        """The request line has not arrived whole yet (a slow client; TCP_DEFER_ACCEPT makes
        this rare): look again shortly, for a bounded time."""
        assert self._loop is not None

        async def wait() -> None:
            deadline = asyncio.get_running_loop().time() + _PEEK_PATIENCE_SECONDS
            while asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.005)
                line = _peek_line(connection)
                if line is not None:
                    self._route(connection, line)
                    return
            connection.close()

        task = self._loop.create_task(wait())
        self._peeking.add(task)
        task.add_done_callback(self._peeking.discard)

    def _route(self, connection: socket.socket, line: bytes) -> None:
        owner = owner_of(line, self.workers)
        if owner is not None and owner != self.index and self.channels.hand_over(owner, connection):
            connection.close()  # our copy; the owner has its own
            return
        self._serve_connection(connection)  # ours, or its owner cannot take it: any worker can serve a room

    def _serve_connection(self, connection: socket.socket) -> None:
        assert self._loop is not None
        connection.setblocking(False)
        task = self._loop.create_task(self._connect(connection))
        task.add_done_callback(_report)

    async def _connect(self, connection: socket.socket) -> None:
        assert self._loop is not None
        assert self._protocol is not None
        try:
            await self._loop.connect_accepted_socket(self._protocol, connection)
        except OSError:
            connection.close()  # the client went away meanwhile


def _peek_line(connection: socket.socket) -> bytes | None:
    """The first request line, without taking it from the socket; None if not all there yet."""
    try:
        data = connection.recv(_PEEK_BYTES, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""  # reset: serving it fails quietly
    if not data:
        return b""  # closed before a word: nothing to route
    end = data.find(b"\r\n")
    if end >= 0:
        return data[:end]
    return data if len(data) >= _PEEK_BYTES else None


def _report(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("worker_serve_failed", error=repr(task.exception()))
