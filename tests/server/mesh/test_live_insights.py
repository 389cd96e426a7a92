"""The mesh in a real server process: one editor types, another editor sees the agents'
verdicts arrive in the document's insights, marked stale as soon as the text moves on and
fresh again once the agents caught up; typing never waits on them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pycrdt import Doc, Map, Text

from justmaily.desktop.engine.room_client import RoomClient
from justmaily.shared.collaboration import INSIGHTS
from justmaily.shared.document import content_hash
from justmaily.shared.mesh import MESH_INSIGHTS, AgentKind
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live
from tests.support.rooms import body


@pytest.fixture
def live_env() -> dict[str, str]:
    return {"JUSTMAILY_MESH_DEBOUNCE_SECONDS": "0.2", "JUSTMAILY_MESH_HEARTBEAT_SECONDS": "1"}


def mesh_of(doc: Doc[Any]) -> dict[str, Any] | None:
    found = doc.get(INSIGHTS, type=Map).get(MESH_INSIGHTS)
    return found if isinstance(found, dict) else None


def current(doc: Doc[Any]) -> bool:
    found = mesh_of(doc)
    return found is not None and found["revision"] == content_hash(doc) and not found["stale"]


def write(client: RoomClient, field: str, value: str) -> None:
    def change(doc: Doc[Any]) -> None:
        shared = doc.get(field, type=Text)
        shared.insert(len(shared), value)

    client.edit(change)


async def test_an_edit_brings_verdicts_to_every_editor_and_stale_ones_are_marked(live: Live) -> None:
    cid = await live.create_campaign()
    editor, admin = live.team[Role.EDITOR], live.team[Role.ADMIN]
    async with (
        RoomClient.join(await live.ticket(editor, cid)) as typist,
        RoomClient.join(await live.ticket(admin, cid)) as reader,
    ):
        await typist.wait_until(typist.synced.is_set)
        write(typist, "subject", "BUY NOW")
        started = time.monotonic()
        write(
            typist,
            "body",
            "Dear Friend,\n\nThis comes with a money back guarantee. Read [here](http://example.com/).",
        )
        await typist.wait_until(lambda: typist.stored == typist.updates_sent)
        assert time.monotonic() - started < 5  # stored without waiting for any agent

        await reader.wait_until(lambda: current(reader.doc), within=20)
        insight = mesh_of(reader.doc)
        assert insight is not None
        assert sorted(insight["verdicts"]) == sorted(AgentKind)
        spam = insight["verdicts"]["spam"]
        assert spam["status"] == "ok"
        assert {"DEAR_FRIEND", "MONEY_BACK", "SUBJ_BUY"} <= {f["rule"] for f in spam["findings"]}
        links = {f["rule"] for f in insight["verdicts"]["links"]["findings"]}
        assert "LINK_INSECURE" in links
        described = insight["revision"]

        # The text moves on: the verdicts about the old revision are marked stale, then replaced.
        write(typist, "body", " Thanks for reading.")
        await reader.wait_until(lambda: (mesh_of(reader.doc) or {}).get("stale") is True, within=10)
        assert mesh_of(reader.doc)["revision"] == described  # type: ignore[index]
        await reader.wait_until(lambda: current(reader.doc), within=20)
        assert mesh_of(reader.doc)["revision"] != described  # type: ignore[index]
        assert "Thanks for reading." in body(reader.doc)

    agents = (await live.call("GET", "/api/mesh/agents", live.team[Role.ADMIN])).json()
    assert {agent["kind"] for agent in agents} == set(AgentKind)
    assert {agent["status"] for agent in agents} == {"healthy"}
