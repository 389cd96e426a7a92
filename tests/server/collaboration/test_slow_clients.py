"""A client that reads slower than its room talks: closed with FELL_BEHIND once what the server
holds for it passes its bound, while the room and its other clients carry on; and per-message
deflate only when configured."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
import websockets
from pycrdt import Doc, Text

from justmaily.desktop.engine.room_client import RoomClient
from justmaily.shared.collaboration import CloseCode
from justmaily.shared.document import protocol
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live

MAX_MESSAGE = 32_768  # the backlog's bound is twice this


@pytest.fixture
def live_env() -> dict[str, str]:
    return {
        "JUSTMAILY_ROOM_MAX_MESSAGE_BYTES": str(MAX_MESSAGE),
        "JUSTMAILY_ROOM_MAX_DOCUMENT_BYTES": str(64 * 1024 * 1024),
        "JUSTMAILY_ROOM_SILENT_SECONDS": "60",
    }


async def _reader_that_stalls(url: str) -> tuple[websockets.ClientConnection, socket.socket]:
    """A client whose socket takes in almost nothing until it reads: a tiny receive buffer, and
    its library stops reading after one message it has not been asked for."""
    parts = urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    sock.setblocking(False)
    return await websockets.connect(url, sock=sock, max_queue=1, max_size=None), sock


async def _updates_until_closed(ws: websockets.ClientConnection) -> int:
    updates = 0
    try:
        while True:
            message = protocol.parse(await ws.recv(decode=False))
            updates += message.kind is protocol.Kind.SYNC_UPDATE
    except websockets.ConnectionClosed:
        return updates


def chunk(n: int) -> Any:
    def change(doc: Doc[Any]) -> None:
        body = doc.get("body", type=Text)
        body.insert(len(body), f"{n:06d}" + "x" * 16_000)

    return change


async def test_a_client_that_stops_reading_is_closed_and_the_room_carries_on(live: Live) -> None:
    cid = await live.create_campaign()
    slow, sock = await _reader_that_stalls(await live.ticket(live.team[Role.VIEWER], cid, acks=False))
    async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid), heartbeat=None) as writer:
        await writer.wait_until(writer.synced.is_set)
        sent = 400  # 6.4 MB: past the 4 MB a socket's send buffer may grow to here, and the bound
        for n in range(sent):
            writer.edit(chunk(n))
            if n % 50 == 49:  # within the message rate
                await writer.wait_until(lambda: writer.stored == writer.updates_sent, within=30)

        # The slow client reads at last (with room to, or a 4 KB window takes a minute): some of
        # the updates, then the close.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        updates = await _updates_until_closed(slow)
        assert slow.close_code == CloseCode.FELL_BEHIND
        assert updates < sent / 2  # what piled up was dropped, not kept

        # The room and its other clients carry on.
        async with RoomClient.join(await live.ticket(live.team[Role.ADMIN], cid)) as late:
            await late.wait_until(late.synced.is_set)
            writer.edit(chunk(sent))
            await writer.wait_until(lambda: writer.stored == writer.updates_sent, within=30)
            assert str(late.doc.get("body", type=Text)).endswith("x" * 16_000)
            assert f"{sent:06d}" in str(writer.doc.get("body", type=Text))
        assert not writer.closed.is_set()


async def test_per_message_deflate_is_off_by_default(live: Live) -> None:
    cid = await live.create_campaign()
    async with websockets.connect(await live.ticket(live.team[Role.EDITOR], cid)) as ws:  # offers deflate
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
