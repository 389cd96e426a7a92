"""The room manager's own life: loading, unloading and shutting down rooms, in-process."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import anyio
import httpx

from justmaily.server.collaboration.rooms import RoomManager
from justmaily.server.collaboration.store import DocumentStore
from justmaily.server.db.engine import Database
from justmaily.server.settings import Settings
from justmaily.shared.document import load_document, text
from justmaily.shared.roles import Role
from tests.plugins.api import Team


class SlowStore(DocumentStore):
    """The real store, slower to append: stopping one room takes long enough for the others'
    idle-unload timers to fall due meanwhile."""

    async def append_many(self, batches: Sequence[tuple[uuid.UUID, list[bytes]]]) -> dict[uuid.UUID, int]:
        await anyio.sleep(0.05)
        return await super().append_many(batches)


async def test_shutting_down_stores_every_rooms_edits_while_unloads_fall_due(
    client: httpx.AsyncClient, team: Team, settings: Settings
) -> None:
    """Shut-down stopped rooms one by one after emptying the map; an unload falling due in
    between raised KeyError, ended the manager's task group and left later rooms' edits unstored."""
    editor = team[Role.EDITOR].headers
    ids = []
    for n in range(5):
        created = await client.post("/api/campaigns", json={"name": f"Room {n}"}, headers=editor)
        ids.append(uuid.UUID(created.json()["id"]))
    database = Database(settings)
    store = SlowStore(database, compact_after=500)
    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                rooms = RoomManager(store, group, idle_unload_seconds=0.01)
                held = [await rooms.acquire(campaign_id, team.workspace_id) for campaign_id in ids]
                for room in held:
                    before = room.doc.get_state()
                    text(room.doc, "body").insert(0, f"kept {room.campaign_id}")
                    room.store_later(room.doc.get_update(before))
                for room in held:
                    await rooms.release(room)  # idle now: its unload falls due in 10 ms
                await rooms.close_all()
                assert rooms.rooms == {}
        for campaign_id in ids:
            stored = load_document(await store.load(campaign_id))
            assert str(text(stored, "body")) == f"kept {campaign_id}"
    finally:
        await database.dispose()


class HeldStore(DocumentStore):
    """The real store, holding every append until the test lets it go: a database that is
    not keeping up."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, compact_after=500)
        self.go = anyio.Event()

    async def append_many(self, batches: Sequence[tuple[uuid.UUID, list[bytes]]]) -> dict[uuid.UUID, int]:
        await self.go.wait()
        return await super().append_many(batches)


async def test_what_waits_to_be_stored_is_bounded_and_counted_down_once_stored(
    client: httpx.AsyncClient, team: Team, settings: Settings
) -> None:
    created = await client.post("/api/campaigns", json={"name": "Held"}, headers=team[Role.EDITOR].headers)
    campaign_id = uuid.UUID(created.json()["id"])
    database = Database(settings)
    store = HeldStore(database)
    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                rooms = RoomManager(store, group, idle_unload_seconds=0.01)
                room = await rooms.acquire(campaign_id, team.workspace_id)
                limit = 10_000
                writes = []
                while room.may_queue(1_000, limit):
                    before = room.doc.get_state()
                    text(room.doc, "body").insert(0, "x" * 990)
                    writes.append(room.store_later(room.doc.get_update(before)))
                assert 9_000 < room.unstored <= limit  # a client's next update would be refused
                store.go.set()
                for write in writes:
                    await write.done.wait()
                assert not any(write.failed for write in writes)
                assert room.unstored < 1_000  # only the room's own note (insights) waits now
                assert room.may_queue(1_000, limit)
                await rooms.release(room)
                await rooms.close_all()
    finally:
        await database.dispose()
