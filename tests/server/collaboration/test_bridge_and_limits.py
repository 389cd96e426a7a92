"""The REST bridge into live documents, and the per-connection limits."""

from __future__ import annotations

from typing import Any

import pytest
import websockets
from pycrdt import Doc, Text, create_update_message

from justmaily.desktop.engine.room_client import RoomClient
from justmaily.shared.collaboration import CloseCode
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live
from tests.support.rooms import body


async def test_rest_edits_merge_with_live_typing(live: Live) -> None:
    cid = await live.create_campaign()
    async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid)) as typist:
        await typist.wait_until(typist.synced.is_set)
        typist.edit(lambda doc: doc.get("body", type=Text).insert(0, "Dear reader, hello."))
        await typist.wait_until(lambda: typist.stored == typist.updates_sent)
        # A script reads the body; the typist keeps typing; the script sends its change.
        read = await live.content(live.team[Role.ADMIN], cid)
        typist.edit(lambda doc: doc.get("body", type=Text).insert(0, "> "))
        await typist.wait_until(lambda: typist.stored == typist.updates_sent)
        changed = await live.call(
            "PATCH",
            f"/api/campaigns/{cid}/content",
            live.team[Role.ADMIN],
            json={"body": "Dear reader, goodbye.", "subject": "Farewell", "base": {"body": read["body"]}},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["body"] == "> Dear reader, goodbye."
        await typist.wait_until(lambda: body(typist.doc) == "> Dear reader, goodbye.")
        assert str(typist.doc.get("subject", type=Text)) == "Farewell"
    content = await live.content(live.team[Role.VIEWER], cid)
    assert content["body"] == "> Dear reader, goodbye."
    assert content["subject"] == "Farewell"
    assert len(content["content_hash"]) == 64
    # The server keeps its insights on the document for every client (not part of the hash).
    assert content["insights"]["stats"]["body_words"] == 3
    assert content["insights"]["stats"]["subject_fits_on_phone"] is True


async def test_rest_bridge_permissions_and_bad_input(live: Live) -> None:
    cid = await live.create_campaign()
    refused = await live.call(
        "PATCH", f"/api/campaigns/{cid}/content", live.team[Role.VIEWER], json={"body": "x"}
    )
    assert refused.status_code == 403
    unknown = await live.call(
        "PATCH", f"/api/campaigns/{cid}/content", live.team[Role.EDITOR], json={"bdy": "x"}
    )
    assert unknown.status_code == 400
    rival = await live.call("GET", f"/api/campaigns/{cid}/content", live.team.rival)
    assert rival.status_code == 404
    assert (await live.content(live.team[Role.VIEWER], cid))["body"] == ""


@pytest.fixture
def live_env() -> dict[str, str]:
    return {"JUSTMAILY_ROOM_MAX_MESSAGE_BYTES": "4096", "JUSTMAILY_ROOM_MESSAGE_RATE": "30/second"}


async def _closed_with(url: str, frames: list[bytes]) -> int | None:
    async with websockets.connect(url) as ws:
        try:
            for frame in frames:
                await ws.send(frame)
            while True:
                await ws.recv()
        except websockets.ConnectionClosed:
            pass
    return ws.close_code


async def test_oversized_and_flooding_clients_are_closed_and_the_room_carries_on(live: Live) -> None:
    cid = await live.create_campaign()
    big: Doc[Any] = Doc(init={"body": Text("x" * 10_000)})
    small: Doc[Any] = Doc(init={"body": Text("y")})
    async with RoomClient.join(await live.ticket(live.team[Role.ADMIN], cid)) as bystander:
        await bystander.wait_until(bystander.synced.is_set)
        oversized = [create_update_message(big.get_update())]
        assert await _closed_with(await live.ticket(live.team[Role.EDITOR], cid), oversized) == (
            CloseCode.MESSAGE_TOO_LARGE
        )
        flood = [create_update_message(small.get_update())] * 200
        assert await _closed_with(await live.ticket(live.team[Role.EDITOR], cid), flood) == (
            CloseCode.TOO_MANY_MESSAGES
        )
        bystander.edit(lambda doc: doc.get("body", type=Text).insert(0, "fine"))
        await bystander.wait_until(lambda: bystander.stored == bystander.updates_sent)
    assert "x" * 100 not in str((await live.content(live.team[Role.VIEWER], cid))["body"])
