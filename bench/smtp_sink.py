"""A lean SMTP sink for the delivery benchmark: `python -m bench.smtp_sink PORT` (stops at EOF on stdin).

The benchmark's sink shares this machine's two cores with the sender it measures. aiosmtpd, a
complete server, spends about half a millisecond of CPU per message (its own state machine and a
stream reader per line), time the sender then lacks. This sink speaks just enough SMTP for a
sender that behaves (EHLO/HELO, MAIL, RCPT, DATA with dot-stuffed content, RSET, NOOP, QUIT, one
reply per command, pipelined commands answered in order) as a single asyncio protocol, so what is
measured is mostly the sender. It checks nothing about the message and keeps none of it; the
aiosmtpd sink stays the default.
"""

from __future__ import annotations

import asyncio
import os
import sys

_GREETING = b"220 sink.invalid ESMTP lean sink\r\n"
_EHLO = b"250-sink.invalid\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 33554432\r\n"
_END_OF_DATA = b"\r\n.\r\n"


class SinkProtocol(asyncio.Protocol):
    """One SMTP session: commands line by line, or (after DATA's 354) content up to CRLF.CRLF."""

    messages = 0  # accepted messages, all sessions

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_data = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(_GREETING)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        replies: list[bytes] = []
        while True:
            if self._in_data:
                # Dot-stuffing makes CRLF "." CRLF unambiguous: the CRLF ends the last line.
                end = self._buffer.find(_END_OF_DATA)
                if end < 0:
                    break
                del self._buffer[: end + len(_END_OF_DATA)]
                self._in_data = False
                SinkProtocol.messages += 1
                replies.append(b"250 2.0.0 OK queued\r\n")
                continue
            end = self._buffer.find(b"\r\n")
            if end < 0:
                break
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 2]
            replies.append(self._command(line))
            if self._transport is None:
                return
        if replies and self._transport is not None:
            self._transport.write(b"".join(replies))

    def _command(self, line: bytes) -> bytes:
        verb = line[:4].upper()
        if verb == b"DATA":
            # The content starts right after this line; a sender may already have written it.
            self._in_data = True
            self._buffer[:0] = b"\r\n"  # so content ending at once still finds CRLF.CRLF
            return b"354 End data with <CR><LF>.<CR><LF>\r\n"
        if verb == b"EHLO":
            return _EHLO
        if verb == b"QUIT":
            assert self._transport is not None
            self._transport.write(b"221 2.0.0 Bye\r\n")
            self._transport.close()
            self._transport = None
            return b""
        if verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP", b"HELO"):
            return b"250 2.0.0 OK\r\n"
        return b"500 5.5.1 Command unrecognized\r\n"


async def serve(host: str, port: int, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SinkProtocol, host, port)
    async with server:
        await stop.wait()


def main(argv: list[str]) -> int:
    port = int(argv[0])

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # stdin's EOF (the benchmark closing the pipe) is the signal to stop, as for the aiosmtpd sink.
        stdin = sys.stdin.fileno()

        def on_stdin() -> None:
            if not os.read(stdin, 4096):
                stop.set()

        loop.add_reader(stdin, on_stdin)
        await serve("127.0.0.1", port, stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
