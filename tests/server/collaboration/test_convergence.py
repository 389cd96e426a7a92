"""Property: real clients editing at random, some dropping off and coming back, all converge,
and the server stores exactly what they converge on."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest
from anyio.abc import TaskStatus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from justmaily.desktop.engine.room_client import LOCAL, RoomClient
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live
from tests.support.rooms import body

WRITERS = (Role.EDITOR, Role.ADMIN, Role.OWNER)
operations = st.lists(
    st.tuples(
        st.integers(0, len(WRITERS) - 1),  # which client
        st.sampled_from(["insert", "insert", "delete", "drop", "rejoin"]),
        st.integers(0, 10_000),  # where
        st.text(alphabet="abcxyz é€😀\n", min_size=1, max_size=4),
    ),
    min_size=4,
    max_size=25,
)


def apply(doc: Doc[Any], kind: str, where: int, what: str) -> None:
    shared = doc.get("body", type=Text)
    current = str(shared)
    # pycrdt counts UTF-8 bytes: pick a character boundary.
    at = len(current[: where % (len(current) + 1)].encode())
    if kind == "insert":
        shared.insert(at, what)
    elif current:
        end = len(current[: where % (len(current) + 1) + len(what)].encode())
        del shared[at:end]


async def scenario(live: Live, script: list[tuple[int, str, int, str]]) -> None:
    cid = await live.create_campaign()
    docs: list[Doc[Any]] = [Doc() for _ in WRITERS]
    clients: list[RoomClient | None] = [None] * len(WRITERS)

    stops: list[anyio.Event] = [anyio.Event() for _ in WRITERS]
    gone: list[anyio.Event] = [anyio.Event() for _ in WRITERS]

    async def run_client(i: int, *, task_status: TaskStatus[RoomClient]) -> None:
        # Each client in a task of its own: clients come and go in any order.
        try:
            async with RoomClient.join(await live.ticket(live.team[WRITERS[i]], cid), doc=docs[i]) as client:
                task_status.started(client)
                await stops[i].wait()
        finally:
            gone[i].set()

    async with anyio.create_task_group() as group:

        async def join(i: int) -> None:
            stops[i], gone[i] = anyio.Event(), anyio.Event()
            clients[i] = await group.start(run_client, i)

        async def leave(i: int) -> None:
            if clients[i] is not None:
                clients[i] = None
                stops[i].set()
                await gone[i].wait()

        for i in range(len(WRITERS)):
            await join(i)
        for who, kind, where, what in script:
            if kind == "drop":
                await leave(who)  # offline from here; edits stay local until it rejoins
            elif kind == "rejoin" and clients[who] is None:
                await join(who)
            elif kind in ("insert", "delete"):
                with docs[who].transaction(origin=LOCAL):
                    apply(docs[who], kind, where, what)
            await asyncio.sleep(0)
        for i in range(len(WRITERS)):  # everyone comes back
            if clients[i] is None:
                await join(i)
        for client in filter(None, clients):
            await client.wait_until(lambda: len({body(d) for d in docs}) == 1, within=15)
        for client in filter(None, clients):
            await client.wait_until(lambda c=client: c.stored == c.updates_sent, within=15)  # type: ignore[misc]
        converged = body(docs[0])
        for i in range(len(WRITERS)):
            await leave(i)
    assert (await live.content(live.team[Role.VIEWER], cid))["body"] == converged


@pytest.mark.backends("sqlite")  # a server process per test: one backend is enough for the property
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=operations)
def test_clients_converge_through_drops_and_rejoins(
    live: Live, script: list[tuple[int, str, int, str]]
) -> None:
    asyncio.run(scenario(live, script))
