"""What one client of a room may not do to the others: grow the document past its limit, or
speak for another client's presence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Encoder, Text, create_awareness_message
from sqlalchemy import func, select

from justmaily.desktop.engine.room_client import RoomClient
from justmaily.server.collaboration.models import DocumentSnapshot, DocumentUpdate
from justmaily.server.db.engine import Database
from justmaily.shared.collaboration import CloseCode
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live
from tests.support.rooms import presence

LIMIT = 200_000


@pytest.fixture
def live_env() -> dict[str, str]:
    return {"JUSTMAILY_ROOM_MAX_DOCUMENT_BYTES": str(LIMIT)}


def append(text: str) -> Any:
    def change(doc: Doc[Any]) -> None:
        body = doc.get("body", type=Text)
        body.insert(len(body), text)

    return change


async def _stored_bytes(live: Live) -> int:
    database = Database(live.settings)
    try:
        async with database.session(read_only=True) as session:
            updates = await session.scalar(select(func.sum(func.length(DocumentUpdate.data))))
            snapshots = await session.scalar(select(func.sum(func.length(DocumentSnapshot.data))))
    finally:
        await database.dispose()
    return int(updates or 0) + int(snapshots or 0)


async def test_an_update_past_the_documents_limit_is_refused_and_never_stored(live: Live) -> None:
    cid = await live.create_campaign()
    chunk = "x" * 60_000
    async with RoomClient.join(await live.ticket(live.team[Role.ADMIN], cid)) as bystander:
        await bystander.wait_until(bystander.synced.is_set)
        async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid)) as writer:
            await writer.wait_until(writer.synced.is_set)
            for _ in range(3):  # 180,000 bytes: within the limit
                writer.edit(append(chunk))
            await writer.wait_until(lambda: writer.stored == writer.updates_sent == 3)
            writer.edit(append("y" * 60_000))  # past it
            await writer.wait_until(writer.closed.is_set)
            assert writer.close_code == CloseCode.DOCUMENT_TOO_LARGE
            assert f"over {LIMIT} bytes" in writer.close_reason
        # The room carries on: a small edit still fits.
        bystander.edit(lambda doc: doc.get("body", type=Text).insert(0, "ok "))
        await bystander.wait_until(lambda: bystander.stored == bystander.updates_sent == 1)
        assert "y" not in str(bystander.doc.get("body", type=Text))
    body = str((await live.content(live.team[Role.VIEWER], cid))["body"])
    assert body == "ok " + chunk * 3
    assert await _stored_bytes(live) < LIMIT


async def test_a_document_near_its_limit_is_measured_when_its_room_loads(live: Live, tmp_path: Path) -> None:
    cid = await live.create_campaign()
    async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid)) as writer:
        await writer.wait_until(writer.synced.is_set)
        writer.edit(append("x" * 150_000))
        await writer.wait_until(lambda: writer.stored == writer.updates_sent == 1)
    live.server.stop()
    live.restart(tmp_path)  # the room loads from the database, its size measured then
    async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid)) as again:
        await again.wait_until(again.synced.is_set)
        again.edit(append("z" * 60_000))
        await again.wait_until(again.closed.is_set)
    assert again.close_code == CloseCode.DOCUMENT_TOO_LARGE
    assert "z" not in str((await live.content(live.team[Role.VIEWER], cid))["body"])


def _awareness_update(client_id: int, clock: int, state: str) -> bytes:
    encoder = Encoder()
    encoder.write_var_uint(1)
    encoder.write_var_uint(client_id)
    encoder.write_var_uint(clock)
    encoder.write_var_string(state)  # ASCII here (pycrdt counts characters)
    return create_awareness_message(encoder.to_bytes())


async def test_a_client_speaks_only_for_its_own_presence_under_its_own_name(live: Live) -> None:
    cid = await live.create_campaign()
    forged = '{"user":{"name":"Mallory","color":"#ff0000","id":"x"},"cursor":null,"status":"online"}'
    async with (
        RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid), presence=presence("Ada")) as ada,
        RoomClient.join(await live.ticket(live.team[Role.ADMIN], cid)) as watcher,
    ):
        await watcher.wait_until(lambda: ada.doc.client_id in watcher.peers())
        async with RoomClient.join(await live.ticket(live.team[Role.VIEWER], cid), heartbeat=None) as viewer:
            # First someone else's client id (not claimable: a live connection holds it), then
            # its own, then the other again: only its own is relayed, under its own name.
            mine = viewer.doc.client_id
            await viewer.send(_awareness_update(ada.doc.client_id, 1_000_000, forged))
            await viewer.send(_awareness_update(mine, 1, forged))
            await viewer.send(_awareness_update(ada.doc.client_id, 2_000_000, forged))
            await viewer.send(_awareness_update(mine, 2, forged.replace("online", "last")))
            await watcher.wait_until(lambda: watcher.peers().get(mine, {}).get("status") == "last")
            assert not viewer.closed.is_set()  # echoes of others' presence are dropped, not punished
            peers = watcher.peers()
            assert peers[mine]["user"] == {
                "id": str(live.team[Role.VIEWER].id),
                "name": "Viewer",
                "color": "#ff0000",
            }
        peers = watcher.peers()
        assert peers[ada.doc.client_id]["user"]["name"] == "Editor"  # the principal's, not "Ada"
        assert peers[ada.doc.client_id]["user"]["color"] == "#3366ff"
        assert peers[ada.doc.client_id]["user"]["id"] == str(live.team[Role.EDITOR].id)
        assert all(p["user"]["name"] != "Mallory" for p in peers.values() if p.get("user"))
