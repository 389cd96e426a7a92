"""The room client's bookkeeping of what the server stored, against a scripted room server."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
from pycrdt import Doc
from websockets.asyncio.server import ServerConnection

from justmaily.desktop.engine.local_store import LocalStore
from justmaily.desktop.engine.room_client import SyncStatus
from justmaily.desktop.engine.sync import CampaignSync
from justmaily.shared.collaboration import EMPTY_UPDATE
from justmaily.shared.document import protocol
from justmaily.shared.document.protocol import Kind
from tests.desktop.test_sync_resilience import Tickets, room_server, type_into
from tests.plugins.desktop import FAST, until


async def next_of(ws: ServerConnection, kind: Kind) -> protocol.Message:
    while True:
        raw = await ws.recv()
        assert isinstance(raw, bytes)
        message = protocol.parse(raw)
        if message.kind is kind:
            return message


async def test_an_ack_of_an_edit_made_while_connecting_confirms_no_older_change(tmp_path: Path) -> None:
    """What was typed offline travels in our sync step 2; an edit typed while connecting is sent
    at once, before it. The ack of that edit alone must not mark the offline changes stored."""
    acked_first, checked = anyio.Event(), anyio.Event()
    empty: Doc[Any] = Doc()

    async def room(ws: ServerConnection) -> None:
        await next_of(ws, Kind.SYNC_UPDATE)  # the edit typed while connecting
        await ws.send(protocol.stored_message(1))
        await ws.send(protocol.sync_step1(empty))
        await next_of(ws, Kind.SYNC_STEP2)  # the answer comes after the ack was read
        acked_first.set()
        await checked.wait()
        await ws.send(protocol.stored_message(2))
        await ws.send(protocol.sync_step2(EMPTY_UPDATE))
        await ws.wait_closed()

    store = await LocalStore.open(tmp_path / "store.sqlite3")
    sync = CampaignSync(uuid.uuid4(), store, Tickets("ws://unused"), user={"name": "Ada"}, timing=FAST)
    await sync.load()
    try:
        type_into(sync, "Typed offline.")
        assert sync.pending == 1
        async with room_server(room) as url, anyio.create_task_group() as group:
            sync.access = Tickets(url)
            group.start_soon(sync.run)
            await until(sync, lambda: sync.status is SyncStatus.SYNCING)
            type_into(sync, " Typed while connecting.")
            with anyio.fail_after(10):
                await acked_first.wait()
            try:
                assert sync.pending == 2  # the first ack covers the second edit, not the first
            finally:
                checked.set()
            await until(sync, lambda: sync.status is SyncStatus.ONLINE)
            assert sync.pending == 0
            await sync.stop()
        await sync.flush()
        assert [row.pending for row in await store.updates(sync.campaign_id)] == [False, False]
    finally:
        sync.close()
        await store.close()
