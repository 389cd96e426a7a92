"""The sync engine against misbehaving servers (a real WebSocket server on loopback that refuses,
closes at once or sends garbage), and closing campaigns while they sync."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from pycrdt import Doc
from websockets.asyncio.server import ServerConnection, serve

from justmaily.desktop.engine.errors import DesktopError, ErrorKind
from justmaily.desktop.engine.local_store import LocalStore
from justmaily.desktop.engine.presence import caret
from justmaily.desktop.engine.room_client import SyncStatus
from justmaily.desktop.engine.sync import CampaignSync
from justmaily.shared.collaboration import CloseCode, RoomTicket
from justmaily.shared.document import encode_position, text
from tests.plugins.desktop import FAST, until

Handler = Callable[[ServerConnection], Awaitable[None]]


class Tickets:
    """Hands out tickets to a local server (or fails as told), counting requests."""

    def __init__(self, url: str, failure: DesktopError | None = None) -> None:
        self.url = url
        self.failure = failure
        self.requests = 0

    async def room_ticket(self, campaign_id: uuid.UUID) -> RoomTicket:
        self.requests += 1
        if self.failure is not None:
            raise self.failure
        return RoomTicket(ticket="t", url=f"{self.url}/room?ticket=t", expires_in=60, read_only=False)


@asynccontextmanager
async def room_server(handler: Handler) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


@asynccontextmanager
async def syncing(tmp_path: Path, tickets: Tickets) -> AsyncIterator[CampaignSync]:
    store = await LocalStore.open(tmp_path / "store.sqlite3")
    sync = CampaignSync(uuid.uuid4(), store, tickets, user={"name": "Ada"}, timing=FAST)
    await sync.load()
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(sync.run)
            yield sync
            await sync.stop()
    finally:
        await sync.flush()
        sync.close()
        await store.close()


def type_into(sync: CampaignSync, words: str) -> None:
    body = sync.text("body")
    sync.edit(lambda _doc: body.insert(len(body), words))


async def test_a_server_that_keeps_refusing_is_retried_with_backoff(tmp_path: Path) -> None:
    connections = 0

    async def refuse(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.close(CloseCode.BAD_TICKET, "expired")

    async with room_server(refuse) as url:
        tickets = Tickets(url)
        async with syncing(tmp_path, tickets) as sync:
            await anyio.sleep(2.0)
            assert sync.status in (SyncStatus.OFFLINE, SyncStatus.CONNECTING)
    # Backoff from 0.05 s doubling to 0.5 s: a handful of attempts in 2 s, not thousands.
    assert 2 <= connections <= 12
    assert tickets.requests == connections


async def test_rate_limited_ticket_requests_retry_and_typing_is_still_stored(tmp_path: Path) -> None:
    busy = DesktopError(ErrorKind.BUSY, "Too many requests", status=429)
    tickets = Tickets("ws://127.0.0.1:9", failure=busy)
    async with syncing(tmp_path, tickets) as sync:
        await until(sync, lambda: tickets.requests >= 2, within=5)
        assert sync.status is not SyncStatus.STOPPED
        type_into(sync, "kept")
        await sync.flush()
        rows = await sync.store.updates(sync.campaign_id)
        assert [row.pending for row in rows] == [True]


async def test_a_refusal_for_good_stops_syncing_but_not_storing(tmp_path: Path) -> None:
    gone = DesktopError(ErrorKind.NOT_FOUND, "Campaign not found", status=404)
    async with syncing(tmp_path, Tickets("ws://127.0.0.1:9", failure=gone)) as sync:
        await until(sync, lambda: sync.status is SyncStatus.STOPPED)
        type_into(sync, "still mine")
        await sync.flush()
        assert len(await sync.store.updates(sync.campaign_id)) == 1


@pytest.mark.parametrize(
    "garbage", [b"\x00", b"\x00\x02\x05\xff\xff\xff\xff\xff"], ids=["truncated", "bad update"]
)
async def test_a_message_that_cannot_be_read_reconnects_instead_of_crashing(
    tmp_path: Path, garbage: bytes
) -> None:
    connections = 0

    async def babble(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.send(garbage)
        await ws.wait_closed()

    async with room_server(babble) as url, syncing(tmp_path, Tickets(url)) as sync:
        # The problem is shown while offline and cleared when the next attempt connects, so it
        # is watched for, not read once after the fact (which raced the reconnection).
        problems: set[str] = set()
        with anyio.fail_after(10):
            while connections < 2 or not any("cannot read" in p for p in problems):
                if sync.problem:
                    problems.add(sync.problem)
                assert sync.status is not SyncStatus.STOPPED
                await anyio.sleep(0.005)


async def test_stopping_while_connected_writes_everything_typed(tmp_path: Path) -> None:
    async def listen(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with room_server(listen) as url, syncing(tmp_path, Tickets(url)) as sync:
        await until(sync, lambda: sync.status is SyncStatus.SYNCING)
        for n in range(50):
            type_into(sync, f"{n} ")
        await sync.stop()
        await sync.flush()
        rows = await sync.store.updates(sync.campaign_id)
        assert len(rows) == 50
        assert all(row.pending for row in rows)  # nobody acknowledged them


def test_carets_of_peers_that_send_only_relative_positions_are_shown() -> None:
    """A client other than ours sends relative positions only; in non-ASCII text too they place a caret."""
    doc: Doc[Any] = Doc()
    body = text(doc, "body")
    body.insert(0, "Grüße, Ada")
    cursor = {"field": "body", "anchor": encode_position(body, 3), "head": encode_position(body, 3)}
    anchor, head = caret(body, cursor)
    assert anchor is not None
    assert head is not None
    assert 0 <= anchor <= len(str(body).encode())
