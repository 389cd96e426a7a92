"""Live rooms against a real server process, with real WebSocket clients."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import websockets
from pycrdt import Doc, Text, create_update_message

from justmaily.desktop.engine.room_client import RoomClient
from justmaily.shared.collaboration import CloseCode
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live
from tests.support.rooms import body, presence


def body_has(client: RoomClient, text: str) -> Callable[[], bool]:
    return lambda: text in body(client.doc)


def sees(observer: RoomClient, other: RoomClient) -> Callable[[], bool]:
    return lambda: other.doc.client_id in observer.peers()


def type_into_body(client: RoomClient, text: str, at: int | None = None) -> None:
    def change(doc: Doc[Any]) -> None:
        shared = doc.get("body", type=Text)
        shared.insert(len(shared) if at is None else at, text)

    client.edit(change)


async def test_two_editors_converge_and_learn_what_is_stored(live: Live) -> None:
    cid = await live.create_campaign()
    editor, admin = live.team[Role.EDITOR], live.team[Role.ADMIN]
    async with (
        RoomClient.join(await live.ticket(editor, cid)) as a,
        RoomClient.join(await live.ticket(admin, cid)) as b,
    ):
        await a.wait_until(a.synced.is_set)
        type_into_body(a, "Hello")
        await b.wait_until(lambda: body(b.doc) == "Hello")
        type_into_body(b, ", world")
        await a.wait_until(lambda: body(a.doc) == "Hello, world")
        await a.wait_until(lambda: a.stored == a.updates_sent)
        await b.wait_until(lambda: b.stored == b.updates_sent)
    assert (await live.content(editor, cid))["body"] == "Hello, world"


async def test_a_restart_loses_nothing_acknowledged_and_clients_carry_on(live: Live, tmp_path: Path) -> None:
    cid = await live.create_campaign()
    doc: Doc[Any] = Doc()
    async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid), doc=doc) as client:
        for word in ("one ", "two ", "three "):
            type_into_body(client, word)
        await client.wait_until(lambda: client.stored == client.updates_sent >= 3)
        live.server.stop(signal.SIGKILL)
        await client.wait_until(client.closed.is_set)
    # Offline while the server is down: the client keeps editing its own copy.
    with doc.transaction():
        doc.get("body", type=Text).insert(len(body(doc)), "four")
    live.restart(tmp_path)
    assert (await live.content(live.team[Role.VIEWER], cid))["body"] == "one two three "
    async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid), doc=doc) as again:
        await again.wait_until(lambda: again.stored == again.updates_sent >= 1)  # its step 2 carried "four"
    assert (await live.content(live.team[Role.VIEWER], cid))["body"] == "one two three four"


async def test_read_only_roles_receive_but_cannot_change(live: Live) -> None:
    cid = await live.create_campaign()
    async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid)) as editor:
        type_into_body(editor, "Approved wording")
        await editor.wait_until(lambda: editor.stored == editor.updates_sent >= 1)
        for role in (Role.VIEWER, Role.REVIEWER, Role.ANALYST):
            async with RoomClient.join(
                await live.ticket(live.team[role], cid), presence=presence(role.value)
            ) as reader:
                await reader.wait_until(body_has(reader, "Approved wording"))
                await editor.wait_until(sees(editor, reader))
                type_into_body(reader, " (vandalised)")
                type_into_body(editor, ".")
                await reader.wait_until(body_has(reader, "."))
                assert reader.stored == 0
        type_into_body(editor, "!")
        await editor.wait_until(lambda: editor.stored == editor.updates_sent)
    assert "vandalised" not in str((await live.content(live.team[Role.OWNER], cid))["body"])


async def test_tickets_are_single_use_scoped_and_workspace_bound(live: Live) -> None:
    cid = await live.create_campaign()
    url = await live.ticket(live.team[Role.EDITOR], cid)
    async with RoomClient.join(url) as first:
        await first.wait_until(first.synced.is_set)
    async with RoomClient.join(url) as replay:
        await replay.wait_until(replay.closed.is_set)
    assert replay.close_code == CloseCode.BAD_TICKET
    assert "already used" in replay.close_reason

    other = await live.create_campaign()
    wrong_room = (await live.ticket(live.team[Role.EDITOR], other)).replace(other, cid)
    for bad in (wrong_room, url.split("?")[0], url.split("?")[0] + "?ticket=forged.token.here"):
        async with RoomClient.join(bad) as refused:
            await refused.wait_until(refused.closed.is_set)
        assert refused.close_code == CloseCode.BAD_TICKET, bad

    rival = await live.call("POST", f"/api/campaigns/{cid}/room-ticket", live.team.rival)
    assert rival.status_code == 404


async def test_revoking_access_closes_open_connections(live: Live) -> None:
    cid = await live.create_campaign()
    editor = live.team[Role.EDITOR]
    async with RoomClient.join(await live.ticket(editor, cid)) as client:
        await client.wait_until(client.synced.is_set)
        removed = await live.call("DELETE", f"/api/members/{editor.id}", live.team[Role.OWNER])
        assert removed.status_code == 204
        await client.wait_until(client.closed.is_set)
    assert client.close_code == CloseCode.ACCESS_REVOKED


async def test_garbage_closes_only_the_sender(live: Live) -> None:
    cid = await live.create_campaign()
    good_update = create_update_message(Doc(init={"body": Text("x")}).get_update())
    bad_frames: list[bytes | str] = [
        "a text frame",
        b"\x07\x00",  # no such message type
        good_update[:-3],  # truncated update
        b"\x00\x02\x05\xff\xff\xff\xff\xff",  # an update that does not decode
    ]
    async with RoomClient.join(await live.ticket(live.team[Role.ADMIN], cid)) as bystander:
        for frame in bad_frames:
            async with websockets.connect(await live.ticket(live.team[Role.EDITOR], cid)) as ws:
                await ws.send(frame)
                with anyio.fail_after(5):
                    try:
                        while True:
                            await ws.recv()
                    except websockets.ConnectionClosed:
                        pass
                assert ws.close_code == CloseCode.BAD_MESSAGE, frame
        type_into_body(bystander, "still here")
        await bystander.wait_until(lambda: bystander.stored == bystander.updates_sent >= 1)
    assert (await live.content(live.team[Role.VIEWER], cid))["body"] == "still here"
