"""Versions, and approval of exactly the content that was reviewed."""

from __future__ import annotations

from pycrdt import Text

from justmaily.desktop.engine.room_client import RoomClient
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live
from tests.support.rooms import body


async def act(live: Live, role: Role, cid: str, action: str) -> dict[str, object]:
    response = await live.call(
        "POST", f"/api/campaigns/{cid}/transitions", live.team[role], json={"action": action}
    )
    return {"status_code": response.status_code, **response.json()}


async def test_approval_covers_the_reviewed_content_and_a_live_edit_voids_it(live: Live) -> None:
    cid = await live.create_campaign(subject="Hello")
    async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid)) as editor:
        editor.edit(lambda doc: doc.get("body", type=Text).insert(0, "Final wording"))
        await editor.wait_until(lambda: editor.stored == editor.updates_sent >= 1)
        submitted = await act(live, Role.EDITOR, cid, "submit")
        assert submitted["status"] == "in_review"
        digest = (await live.content(live.team[Role.VIEWER], cid))["content_hash"]
        assert submitted["review_hash"] == digest
        approved = await act(live, Role.REVIEWER, cid, "approve")
        assert approved["status"] == "approved"
        assert approved["approved_hash"] == digest

        versions = (await live.call("GET", f"/api/campaigns/{cid}/versions", live.team[Role.VIEWER])).json()
        assert [(v["kind"], v["content_hash"]) for v in versions] == [("review", digest)]

        editor.edit(lambda doc: doc.get("body", type=Text).insert(0, "Oops: "))
        await editor.wait_until(lambda: editor.stored == editor.updates_sent)
    campaign = (await live.call("GET", f"/api/campaigns/{cid}", live.team[Role.VIEWER])).json()
    assert campaign["status"] == "draft"
    assert campaign["approved_hash"] is None
    assert campaign["approved_by"] is None


async def test_an_edit_between_review_and_approval_blocks_the_approval(live: Live) -> None:
    cid = await live.create_campaign()
    await act(live, Role.EDITOR, cid, "submit")
    changed = await live.call(
        "PATCH",
        f"/api/campaigns/{cid}/content",
        live.team[Role.EDITOR],
        json={"body": "changed after review"},
    )
    assert changed.status_code == 200
    refused = await act(live, Role.REVIEWER, cid, "approve")
    assert refused["status_code"] == 409
    campaign = (await live.call("GET", f"/api/campaigns/{cid}", live.team[Role.VIEWER])).json()
    assert campaign["status"] == "draft"


async def test_named_versions_and_restore_as_a_forward_edit(live: Live) -> None:
    cid = await live.create_campaign(subject="First subject")
    editor = live.team[Role.EDITOR]
    await live.call("PATCH", f"/api/campaigns/{cid}/content", editor, json={"body": "First body"})
    created = await live.call("POST", f"/api/campaigns/{cid}/versions", editor, json={"name": "v1"})
    assert created.status_code == 201
    version = created.json()
    refused = await live.call(
        "POST", f"/api/campaigns/{cid}/versions", live.team[Role.VIEWER], json={"name": "x"}
    )
    assert refused.status_code == 403

    await live.call(
        "PATCH",
        f"/api/campaigns/{cid}/content",
        editor,
        json={"body": "Second body", "subject": "Second subject"},
    )
    async with RoomClient.join(await live.ticket(live.team[Role.VIEWER], cid)) as watcher:
        await watcher.wait_until(lambda: body(watcher.doc) == "Second body")
        old = (await live.call("GET", f"/api/campaigns/{cid}/versions/{version['id']}", editor)).json()
        assert (old["body"], old["subject"]) == ("First body", "First subject")
        restored = await live.call("POST", f"/api/campaigns/{cid}/versions/{version['id']}/restore", editor)
        assert restored.status_code == 200
        assert restored.json()["content_hash"] == version["content_hash"]
        await watcher.wait_until(lambda: body(watcher.doc) == "First body")
    campaign = (await live.call("GET", f"/api/campaigns/{cid}", editor)).json()
    assert campaign["subject"] == "First subject"
    missing = await live.call("GET", f"/api/campaigns/{cid}/versions/{cid}", editor)
    assert missing.status_code == 404
