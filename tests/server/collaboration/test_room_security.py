"""What one client of a room may not do to the others: grow the document past its limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text
from sqlalchemy import func, select

from justmaily.server.collaboration.models import DocumentSnapshot, DocumentUpdate
from justmaily.server.db.engine import Database
from justmaily.shared.collaboration import CloseCode
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live
from tests.support.room_client import RoomClient

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
    async with RoomClient(await live.ticket(live.team[Role.ADMIN], cid)) as bystander:
        await bystander.wait_until(bystander.synced.is_set)
        async with RoomClient(await live.ticket(live.team[Role.EDITOR], cid)) as writer:
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
        assert "y" not in bystander.body
    body = str((await live.content(live.team[Role.VIEWER], cid))["body"])
    assert body == "ok " + chunk * 3
    assert await _stored_bytes(live) < LIMIT


async def test_a_document_near_its_limit_is_measured_when_its_room_loads(live: Live, tmp_path: Path) -> None:
    cid = await live.create_campaign()
    async with RoomClient(await live.ticket(live.team[Role.EDITOR], cid)) as writer:
        await writer.wait_until(writer.synced.is_set)
        writer.edit(append("x" * 150_000))
        await writer.wait_until(lambda: writer.stored == writer.updates_sent == 1)
    live.server.stop()
    live.restart(tmp_path)  # the room loads from the database, its size measured then
    async with RoomClient(await live.ticket(live.team[Role.EDITOR], cid)) as again:
        await again.wait_until(again.synced.is_set)
        again.edit(append("z" * 60_000))
        await again.wait_until(again.closed.is_set)
    assert again.close_code == CloseCode.DOCUMENT_TOO_LARGE
    assert "z" not in str((await live.content(live.team[Role.VIEWER], cid))["body"])
