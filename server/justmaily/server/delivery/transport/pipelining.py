"""SMTP command pipelining (RFC 2920) on a connection that aiosmtplib opened.

aiosmtplib sends one command and waits for its reply before the next; its protocol drops a reply
that arrives while no command is pending, so it cannot pipeline. That costs the sender four round
trips and about 0.2 ms of event-loop time per message (against ~0.05 ms pipelined, measured). So
once aiosmtplib has connected, negotiated TLS and authenticated, and the relay offers PIPELINING,
`Pipeline` takes the connection over: MAIL FROM, RCPT TO and DATA go in one write, the content
in a second one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

import aiosmtplib
from aiosmtplib import SMTPResponse

# As aiosmtplib: no reply line, and no buffered reply, grows without bound.
_MAX_LINE = 8192
_MAX_BUFFER = _MAX_LINE * 4


class Pipeline(asyncio.Protocol):
    """The relay's replies, in the order of the commands written."""

    def __init__(self, transport: asyncio.Transport, timeout: float) -> None:
        self._transport = transport
        self._timeout = timeout  # for each wait for replies
        self._buffer = bytearray()
        self._replies: deque[SMTPResponse] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost: aiosmtplib.SMTPException | None = None
        transport.set_protocol(self)

    @classmethod
    def take_over(cls, smtp: aiosmtplib.SMTP, timeout: float) -> Pipeline:
        """Take `smtp`'s connection (after its EHLO, STARTTLS and AUTH); `smtp` is not used again."""
        transport = smtp.transport
        if transport is None or transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("the connection is closed")
        # Not an isinstance check: uvloop's transports are not asyncio.Transport subclasses.
        return cls(cast(asyncio.Transport, transport), timeout)

    @property
    def is_connected(self) -> bool:
        return self._lost is None and not self._transport.is_closing()

    def write(self, data: bytes) -> None:
        if not self.is_connected:
            raise aiosmtplib.SMTPServerDisconnected("the connection is closed")
        self._transport.write(data)

    async def replies(self, count: int) -> list[SMTPResponse]:
        """The next `count` replies; raises if the connection ends or the timeout passes first."""
        async with asyncio.timeout(self._timeout):
            while len(self._replies) < count:
                if self._lost is not None:
                    raise self._lost
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
        return [self._replies.popleft() for _ in range(count)]

    def abort(self) -> None:
        """Drop the connection at once: in the middle of DATA, the relay then discards the message."""
        self._transport.abort()

    def close(self) -> None:
        self._transport.close()

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            while (reply := self._take_reply()) is not None:
                self._replies.append(reply)
            if len(self._buffer) > _MAX_BUFFER:
                raise aiosmtplib.SMTPResponseException(500, "reply too long")
        except aiosmtplib.SMTPResponseException as exc:
            self._fail(exc)
        self._wake()

    def _take_reply(self) -> SMTPResponse | None:
        """One complete reply off the front of the buffer (a multi-line one ends with a line of
        "xyz "), or None while it is incomplete."""
        lines: list[bytes] = []
        start = 0
        while (end := self._buffer.find(b"\n", start)) >= 0:
            line = bytes(self._buffer[start : end + 1])
            start = end + 1
            if len(line) > _MAX_LINE:
                raise aiosmtplib.SMTPResponseException(500, "reply line too long")
            lines.append(line)
            if line[3:4] == b"-":
                continue
            del self._buffer[:start]
            if not line[:3].isdigit():
                raise aiosmtplib.SMTPResponseException(500, f"malformed reply: {line[:80]!r}")
            text = "\n".join(item[4:].strip(b" \t\r\n").decode("utf-8", "replace") for item in lines)
            return SMTPResponse(int(line[:3]), text)
        return None

    def eof_received(self) -> bool:
        self._end(aiosmtplib.SMTPServerDisconnected("the relay closed the connection"))
        return False  # asyncio closes the transport (over TLS, with a proper shutdown)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(aiosmtplib.SMTPServerDisconnected(f"connection lost: {exc or 'closed'}"))

    def _fail(self, exc: aiosmtplib.SMTPException) -> None:
        """A reply we cannot read: the session is out of step, so it ends at once."""
        self._end(exc)
        self._transport.abort()

    def _end(self, exc: aiosmtplib.SMTPException) -> None:
        if self._lost is None:
            self._lost = exc
        self._buffer.clear()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
