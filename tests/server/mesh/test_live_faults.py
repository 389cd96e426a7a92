"""A real server process whose agents cannot answer in time (a task timeout far below what any
analysis takes, the analyses in worker processes, whose round trip always takes longer): tries
time out, retries too, the breakers open, and every editor sees no agent's verdict but the
degraded check's or "unavailable" (the degraded check runs in a thread, which may just beat so
short a timeout) — while typing is stored as fast as ever."""

from __future__ import annotations

import functools
import time
from typing import Any

import anyio
import pytest
from pycrdt import Doc, Map, Text

from justmaily.desktop.engine.room_client import RoomClient
from justmaily.shared.collaboration import INSIGHTS
from justmaily.shared.document import content_hash
from justmaily.shared.mesh import MESH_INSIGHTS, AgentKind
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live


@pytest.fixture
def live_env() -> dict[str, str]:
    return {
        "JUSTMAILY_MESH_DEBOUNCE_SECONDS": "0.1",
        "JUSTMAILY_MESH_HEARTBEAT_SECONDS": "0.2",
        "JUSTMAILY_MESH_TASK_TIMEOUT_SECONDS": "0.00001",  # 10 µs: a worker process's round trip is more
        "JUSTMAILY_MESH_PROCESSES": "1",
    }


def verdicts_now(doc: Doc[Any]) -> dict[str, Any] | None:
    found = doc.get(INSIGHTS, type=Map).get(MESH_INSIGHTS)
    if isinstance(found, dict) and found["revision"] == content_hash(doc) and not found["stale"]:
        return dict(found["verdicts"])
    return None


def has_text(doc: Doc[Any], words: str) -> bool:
    return words in str(doc.get("body", type=Text))


def append(client: RoomClient, words: str) -> None:
    def change(doc: Doc[Any]) -> None:
        body = doc.get("body", type=Text)
        body.insert(len(body), words)

    client.edit(change)


async def test_agents_that_never_answer_in_time_open_their_breakers_and_are_never_shown(live: Live) -> None:
    cid = await live.create_campaign()
    async with (
        RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid)) as typist,
        RoomClient.join(await live.ticket(live.team[Role.ADMIN], cid)) as reader,
    ):
        await typist.wait_until(typist.synced.is_set)
        for words in ("Dear Friend, ", "a money back guarantee."):
            started = time.monotonic()
            append(typist, words)
            await typist.wait_until(lambda: typist.stored == typist.updates_sent)
            assert time.monotonic() - started < 5
            await reader.wait_until(functools.partial(has_text, reader.doc, words))
            await reader.wait_until(lambda: verdicts_now(reader.doc) is not None, within=20)
        verdicts = verdicts_now(reader.doc)
        assert verdicts is not None
        assert sorted(verdicts) == sorted(AgentKind)
        for kind, verdict in verdicts.items():
            assert verdict["status"] in {"degraded", "unavailable"}, kind
            assert "agent" not in verdict  # no agent answered
            assert "open" in verdict["error"] or "no answer within" in verdict["error"], verdict
            if verdict["status"] == "unavailable":
                assert "findings" not in verdict  # nothing shown as if it were a result

    # Two analyses, two tries each: four timeouts in every agent's window, so every breaker is open.
    with anyio.fail_after(10):
        for _ in range(100):
            agents = (await live.call("GET", "/api/mesh/agents", live.team[Role.OWNER])).json()
            if {(agent["status"], agent["breaker"]) for agent in agents} == {("down", "open")}:
                break
            await anyio.sleep(0.1)
    assert {agent["kind"] for agent in agents} == set(AgentKind)
    assert {(agent["status"], agent["breaker"]) for agent in agents} == {("down", "open")}
    assert all(agent["failed"] == 4 and agent["completed"] == 0 for agent in agents)
