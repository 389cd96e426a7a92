"""JUSTMAILY_ROOM_DEFLATE=true: room WebSockets compress (per-message deflate, RFC 7692)."""

from __future__ import annotations

import pytest
import websockets
from pycrdt import Text

from justmaily.desktop.engine.room_client import RoomClient
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live


@pytest.fixture
def live_env() -> dict[str, str]:
    return {"JUSTMAILY_ROOM_DEFLATE": "true"}


async def test_per_message_deflate_is_negotiated_when_configured(live: Live) -> None:
    cid = await live.create_campaign()
    async with websockets.connect(await live.ticket(live.team[Role.EDITOR], cid)) as ws:
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
    async with (  # and the room works over it
        RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid)) as writer,
        RoomClient.join(await live.ticket(live.team[Role.ADMIN], cid)) as reader,
    ):
        await writer.wait_until(writer.synced.is_set)
        await reader.wait_until(reader.synced.is_set)
        writer.edit(lambda doc: doc.get("body", type=Text).insert(0, "compressed " * 100))
        await reader.wait_until(lambda: "compressed" in str(reader.doc.get("body", type=Text)))
