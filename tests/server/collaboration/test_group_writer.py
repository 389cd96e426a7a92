"""One writer for every room: many rooms' edits in one transaction, acknowledged only once
committed, and one room's failing batch costing the others nothing. Rooms in-process, against
the real database, watched through the engine's own events."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import anyio
import httpx
from sqlalchemy import delete, event
from sqlalchemy.ext.asyncio import AsyncEngine

from justmaily.server.campaigns.models import Campaign
from justmaily.server.collaboration.rooms import CampaignRoom, PendingWrite, RoomManager
from justmaily.server.collaboration.store import DocumentStore
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.settings import Settings
from justmaily.shared.document import load_document, text
from justmaily.shared.roles import Role
from tests.plugins.api import Team


def _values(parameters: Any) -> Iterator[Any]:
    """Every value bound to a statement, however the driver was handed them."""
    if isinstance(parameters, dict):
        yield from parameters.values()
    elif isinstance(parameters, list | tuple):
        for item in parameters:
            yield from _values(item)
    elif isinstance(parameters, memoryview):  # how SQLite's driver is handed binary values
        yield bytes(parameters)
    else:
        yield parameters


class Storing:
    """Watches the engine: which of `writes` each statement storing document updates carried,
    and, for each committed one, whether each of them was already acknowledged at the commit."""

    def __init__(self, engine: AsyncEngine, writes: dict[bytes, PendingWrite]) -> None:
        self.attempted: list[set[bytes]] = []
        self.committed: list[list[bool]] = []  # per transaction: acknowledged before its commit?
        sync = engine.sync_engine

        @event.listens_for(sync, "before_cursor_execute")
        def statement(conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, _many: bool) -> None:
            if sql.lstrip().upper().startswith("INSERT INTO DOCUMENT_UPDATES"):
                ours = {v for v in _values(parameters) if isinstance(v, bytes) and v in writes}
                self.attempted.append(ours)
                conn.info.setdefault("ours", set()).update(ours)

        @event.listens_for(sync, "commit")
        def commit(conn: Any) -> None:
            ours = conn.info.pop("ours", None)
            if ours:
                self.committed.append([writes[u].done.is_set() for u in ours])

        @event.listens_for(sync, "rollback")
        def rollback(conn: Any) -> None:
            conn.info.pop("ours", None)


def edit(room: CampaignRoom, words: str) -> tuple[bytes, PendingWrite]:
    before = room.doc.get_state()
    text(room.doc, "body").insert(0, words)
    update = room.doc.get_update(before)
    return update, room.store_later(update)


async def campaigns(client: httpx.AsyncClient, team: Team, count: int) -> list[uuid.UUID]:
    editor = team[Role.EDITOR].headers
    made = [
        await client.post("/api/campaigns", json={"name": f"Room {n}"}, headers=editor) for n in range(count)
    ]
    return [uuid.UUID(m.json()["id"]) for m in made]


async def bodies(store: DocumentStore, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {cid: str(text(load_document(await store.load(cid)), "body")) for cid in ids}


async def test_many_rooms_edits_are_stored_in_one_transaction_and_acknowledged_after_it(
    client: httpx.AsyncClient, team: Team, settings: Settings
) -> None:
    """Each room stored its own batch in its own transaction: 20 rooms, 20 commits."""
    ids = await campaigns(client, team, 20)
    database = Database(settings)
    store = DocumentStore(database, compact_after=500)
    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                rooms = RoomManager(store, group, idle_unload_seconds=0.01)
                held = [await rooms.acquire(cid, team.workspace_id) for cid in ids]
                writes: dict[bytes, PendingWrite] = {}
                storing = Storing(database.engine, writes)
                for room in held:  # queued at once, as 20 rooms' clients typing would
                    update, write = edit(room, f"typed in {room.campaign_id}")
                    writes[update] = write
                for write in writes.values():
                    await write.done.wait()
                assert not any(write.failed for write in writes.values())
                # The first room's batch starts a transaction; the 19 that come meanwhile share
                # the next one.
                assert len(storing.committed) <= 3, [len(t) for t in storing.committed]
                assert max(len(t) for t in storing.committed) >= 15
                assert sum(len(t) for t in storing.committed) == len(ids)
                assert not any(any(t) for t in storing.committed), "acknowledged before committed"
                for room in held:
                    await rooms.release(room)
                await rooms.close_all()
        assert await bodies(store, ids) == {cid: f"typed in {cid}" for cid in ids}
    finally:
        await database.dispose()


async def test_a_failing_batch_fails_only_its_own_room(
    client: httpx.AsyncClient, team: Team, settings: Settings
) -> None:
    """A group of rooms' batches is one transaction: one room's batch that cannot be stored (its
    campaign is gone) must neither lose the others' edits nor have its own acknowledged."""
    ids = await campaigns(client, team, 5)
    database = Database(settings)
    store = DocumentStore(database, compact_after=500)
    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                rooms = RoomManager(store, group, idle_unload_seconds=0.01)
                held = [await rooms.acquire(cid, team.workspace_id) for cid in ids]
                gone = held[-1]
                async with transaction(database) as session:
                    await session.execute(delete(Campaign).where(Campaign.id == gone.campaign_id))
                writes: dict[bytes, PendingWrite] = {}
                storing = Storing(database.engine, writes)
                # The room whose campaign is gone queues last: it shares a group with others.
                for room in held:
                    update, write = edit(room, f"kept in {room.campaign_id}")
                    writes[update] = write
                for write in writes.values():
                    await write.done.wait()
                bad = update  # the last one queued: the room whose campaign is gone
                assert any(bad in tried and len(tried) > 1 for tried in storing.attempted), storing.attempted
                assert [w.failed for w in writes.values()] == [False] * 4 + [True]
                assert not any(any(t) for t in storing.committed), "acknowledged before committed"
                for room in held:
                    await rooms.release(room)
                await rooms.close_all()
        kept = ids[:-1]
        assert await bodies(store, kept) == {cid: f"kept in {cid}" for cid in kept}
        assert await store.load(gone.campaign_id) == []
    finally:
        await database.dispose()
