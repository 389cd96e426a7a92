"""Comments are not content (reviewers write them through the server), send-back reasons, and the
review state the server shows in the document."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from pycrdt import Doc, Map, Text

from justmaily.desktop.engine.room_client import RoomClient
from justmaily.shared.collaboration import CAMPAIGN_STATE, ReviewState
from justmaily.shared.document import (
    comments,
    content_hash,
    decode_position,
    initial_update,
    load_document,
    review_state,
)
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live

BODY = "Grüße! Our spring sale ends on Friday."


async def act(live: Live, role: Role, cid: str, action: str, **extra: Any) -> dict[str, Any]:
    response = await live.call(
        "POST", f"/api/campaigns/{cid}/transitions", live.team[role], json={"action": action, **extra}
    )
    return {"status_code": response.status_code, **response.json()}


async def comment(
    live: Live, role: Role, cid: str, path: str = "", **body: Any
) -> tuple[int, dict[str, Any]]:
    response = await live.call("POST", f"/api/campaigns/{cid}/comments{path}", live.team[role], json=body)
    return response.status_code, response.json()


async def in_review_with_body(live: Live) -> str:
    cid = await live.create_campaign(subject="Spring")
    changed = await live.call(
        "PATCH", f"/api/campaigns/{cid}/content", live.team[Role.EDITOR], json={"body": BODY}
    )
    assert changed.status_code == 200
    assert (await act(live, Role.EDITOR, cid, "submit"))["status"] == "in_review"
    return cid


async def test_reviewers_comment_reply_and_resolve_without_voiding_anything(live: Live) -> None:
    cid = await in_review_with_body(live)
    before = (await live.content(live.team[Role.VIEWER], cid))["content_hash"]
    start = BODY.index("spring sale")
    status, thread = await comment(
        live, Role.REVIEWER, cid, text=" Which dates? ", start=start, end=start + 11
    )
    assert status == 201, thread
    assert thread["text"] == "Which dates?"
    assert thread["author_id"] == str(live.team[Role.REVIEWER].id)
    status, answer = await comment(live, Role.EDITOR, cid, f"/{thread['id']}/replies", text="March 1 to 7")
    assert status == 201, answer
    assert answer["reply_to"] == thread["id"]
    status, resolved = await comment(live, Role.REVIEWER, cid, f"/{thread['id']}/resolve", resolved=True)
    assert (status, resolved["resolved"]) == (200, True)

    content = await live.content(live.team[Role.VIEWER], cid)
    assert content["content_hash"] == before  # comments are not content
    assert {c["id"]: c["resolved"] for c in content["comments"]} == {thread["id"]: True, answer["id"]: False}
    campaign = (await live.call("GET", f"/api/campaigns/{cid}", live.team[Role.VIEWER])).json()
    assert campaign["status"] == "in_review"

    approved = await act(live, Role.REVIEWER, cid, "approve")
    assert approved["status"] == "approved"
    status, _ = await comment(live, Role.EDITOR, cid, text="Ship it", start=0, end=0)
    assert status == 201
    campaign = (await live.call("GET", f"/api/campaigns/{cid}", live.team[Role.VIEWER])).json()
    assert (campaign["status"], campaign["approved_hash"]) == ("approved", before)

    # The anchor follows its words: the quoted range (code points) in multi-byte text.
    async with RoomClient.join(await live.ticket(live.team[Role.VIEWER], cid)) as viewer:
        await viewer.wait_until(lambda: len(comments(viewer.doc)) == 3)
        (anchor,) = [c.anchor for c in comments(viewer.doc) if c.id == thread["id"]]
        assert anchor is not None
        body = viewer.doc.get("body", type=Text)
        found = decode_position(body, anchor.start), decode_position(body, anchor.end)
        assert None not in found
        assert str(body).encode()[found[0] : found[1]].decode() == "spring sale"


async def test_who_may_not_comment_cannot_and_bad_ranges_are_refused(live: Live) -> None:
    cid = await in_review_with_body(live)
    for role in (Role.VIEWER, Role.ANALYST):
        status, problem = await comment(live, role, cid, text="Hi", start=0, end=1)
        assert (status, problem["code"]) == (403, "forbidden"), role
    for body in (
        {"text": "Hi", "start": 5, "end": 2},
        {"text": "Hi", "start": 0, "end": len(BODY) + 1},
        {"text": "Hi"},
        {"text": "Hi", "anchor": {"start": "AAAA", "end": "AAAA"}},
    ):
        status, problem = await comment(live, Role.REVIEWER, cid, **body)
        assert (status, problem["code"]) == (422, "invalid_range"), body
    status, problem = await comment(live, Role.REVIEWER, cid, text="  ", start=0, end=1)
    assert status in (400, 422), problem
    status, problem = await comment(live, Role.REVIEWER, cid, "/no-such-thread/replies", text="Hi")
    assert (status, problem["code"]) == (404, "not_found")
    assert (await live.content(live.team[Role.VIEWER], cid))["comments"] == []


async def test_a_send_back_carries_its_reason_to_the_editors_and_the_document(live: Live) -> None:
    cid = await in_review_with_body(live)
    async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid)) as editor:
        await editor.wait_until(lambda: review_state(editor.doc).status == "in_review")
        sent_back = await act(live, Role.REVIEWER, cid, "send_back", reason="Legal wants “up to 20%”")
        assert sent_back["status"] == "draft"
        assert sent_back["sent_back_reason"] == "Legal wants “up to 20%”"
        assert sent_back["sent_back_by"] == str(live.team[Role.REVIEWER].id)
        assert sent_back["sent_back_at"] is not None
        # Live, in the document every open editor has.
        await editor.wait_until(
            lambda: review_state(editor.doc).sent_back_reason == "Legal wants “up to 20%”"
        )
        assert review_state(editor.doc).status == "draft"
        # Submitted again: the reason has been dealt with.
        assert (await act(live, Role.EDITOR, cid, "submit"))["sent_back_reason"] is None
        await editor.wait_until(lambda: review_state(editor.doc) == ReviewState(status="in_review"))
        # A client that rewrites the state is corrected after its update is stored.
        editor.edit(lambda doc: doc.get(CAMPAIGN_STATE, type=Map).__setitem__("status", "approved"))
        await editor.wait_until(lambda: editor.stored == editor.updates_sent)
        await editor.wait_until(lambda: review_state(editor.doc).status == "in_review")
    # An older client sends no reason.
    await act(live, Role.REVIEWER, cid, "send_back")
    campaign = (await live.call("GET", f"/api/campaigns/{cid}", live.team[Role.VIEWER])).json()
    assert (campaign["status"], campaign["sent_back_reason"]) == ("draft", None)


async def test_an_edit_that_voids_an_approval_shows_draft_in_the_document(live: Live) -> None:
    cid = await in_review_with_body(live)
    await act(live, Role.REVIEWER, cid, "approve")
    async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid)) as editor:
        await editor.wait_until(lambda: review_state(editor.doc).status == "approved")
        editor.edit(lambda doc: doc.get("body", type=Text).insert(0, "Oops: "))
        await editor.wait_until(lambda: review_state(editor.doc).status == "draft")
    campaign = (await live.call("GET", f"/api/campaigns/{cid}", live.team[Role.VIEWER])).json()
    assert campaign["status"] == "draft"


def former_hash(doc: Doc[Any]) -> str:
    """The content hash as made before comments left it (texts and comments)."""
    values = {name: str(doc.get(name, type=Text)) for name in ("subject", "preheader", "sender", "body")}
    canonical = msgspec.json.encode({"texts": values, "comments": comments(doc)}, order="sorted")
    return hashlib.sha256(canonical).hexdigest()


def test_a_document_without_comments_hashes_as_it_did_before() -> None:
    doc = load_document([initial_update({"subject": "Hi", "body": BODY})])
    assert content_hash(doc) == former_hash(doc)
    assert content_hash(Doc()) == "24f72547e5b7ff5e29e87134b965041b6b83d8c96f6a0dfae40553cb10e523b5"
