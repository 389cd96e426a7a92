"""The open campaign the editor's panels follow (engine/campaign.py), without Qt, against a real
server: texts, undo, review, consent, comments and versions, and which topic tells of what."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import pytest

from justmaily.desktop.engine.account import Account
from justmaily.desktop.engine.campaign import OpenCampaign
from justmaily.desktop.engine.errors import DesktopError
from justmaily.desktop.engine.notify import Topic
from justmaily.desktop.engine.room_client import SyncStatus
from justmaily.shared.campaigns import CampaignAction, CampaignStatus
from justmaily.shared.roles import Role
from tests.plugins.desktop import Desktops
from tests.plugins.live_server import Live

pytestmark = pytest.mark.backends("sqlite")
BODY = "Grüße! Our spring sale ends on Friday. 👋"


@asynccontextmanager
async def opened(account: Account, campaign_id: uuid.UUID) -> AsyncIterator[OpenCampaign]:
    campaign = await account.open_campaign(await account.api.campaign(campaign_id))
    async with anyio.create_task_group() as group:
        group.start_soon(campaign.sync.run)
        try:
            await until(campaign.events.status, lambda: campaign.sync.status is SyncStatus.ONLINE)
            yield campaign
        finally:
            campaign.close()
            group.cancel_scope.cancel()


async def until(topic: Topic, condition: Callable[[], bool], within: float = 15.0) -> None:
    """Wait, bounded, until `condition()` holds; checked again whenever `topic` tells of a change."""
    with anyio.fail_after(within):
        while not condition():
            changed = anyio.Event()
            unsubscribe = topic.subscribe(changed.set)
            try:
                await changed.wait()
            finally:
                unsubscribe()


async def a_campaign(live: Live, *actions: str) -> uuid.UUID:
    cid = await live.create_campaign(name="Spring", subject="Spring")
    editor = live.team[Role.EDITOR]
    changed = await live.call("PATCH", f"/api/campaigns/{cid}/content", editor, json={"body": BODY})
    assert changed.status_code == 200
    for action in actions:
        member = editor if action == "submit" else live.team[Role.REVIEWER]
        response = await live.call(
            "POST", f"/api/campaigns/{cid}/transitions", member, json={"action": action}
        )
        assert response.status_code == 200, response.text
    return uuid.UUID(cid)


async def test_texts_change_by_their_changed_run_and_undo_takes_back_only_mine(
    live: Live, desktops: Desktops
) -> None:
    cid = await a_campaign(live)
    ada, grace = await desktops.sign_in(Role.EDITOR), await desktops.sign_in(Role.OWNER)
    async with opened(ada, cid) as mine, opened(grace, cid) as theirs:
        assert mine.texts()["body"] == BODY
        # A word typed into the middle of multi-byte text, as a widget hands over its whole text.
        mine.set_text("body", BODY.replace("spring sale", "big spring sale"))
        await until(theirs.events.texts, lambda: "big spring" in theirs.texts()["body"])
        theirs.set_text("body", "PS: " + theirs.texts()["body"])
        await until(mine.events.texts, lambda: mine.texts()["body"].startswith("PS: "))
        assert mine.texts()["body"] == "PS: " + BODY.replace("spring sale", "big spring sale")
        mine.undo()
        assert mine.texts()["body"] == "PS: " + BODY
        await until(theirs.events.texts, lambda: theirs.texts()["body"] == "PS: " + BODY)
        mine.redo()
        assert mine.texts()["body"] == "PS: " + BODY.replace("spring sale", "big spring sale")
        mine.set_text("subject", "Spring is here")
        await until(theirs.events.texts, lambda: theirs.texts()["subject"] == "Spring is here")
    content = await live.content(live.team[Role.VIEWER], str(cid))
    assert (content["subject"], content["body"]) == (
        "Spring is here",
        "PS: " + BODY.replace("spring sale", "big spring sale"),
    )


async def test_review_actions_follow_the_role_and_every_open_copy_sees_the_status(
    live: Live, desktops: Desktops
) -> None:
    cid = await a_campaign(live)
    editor, reviewer, viewer = (
        await desktops.sign_in(Role.EDITOR),
        await desktops.sign_in(Role.REVIEWER),
        await desktops.sign_in(Role.VIEWER),
    )
    async with opened(editor, cid) as mine, opened(reviewer, cid) as theirs, opened(viewer, cid) as read:
        assert mine.review_actions() == [CampaignAction.SUBMIT, CampaignAction.WITHDRAW]
        assert theirs.review_actions() == [CampaignAction.APPROVE, CampaignAction.SEND_BACK]
        assert read.review_actions() == []
        assert (mine.can_edit, theirs.can_edit, read.can_edit) == (True, False, False)
        assert (mine.may_comment, theirs.may_comment, read.may_comment) == (True, True, False)
        assert mine.allows(CampaignAction.SUBMIT)
        assert not theirs.allows(CampaignAction.APPROVE)

        await mine.transition(CampaignAction.SUBMIT)
        assert mine.campaign.status is CampaignStatus.IN_REVIEW
        # The server writes the status into the document: the others follow without asking.
        await until(theirs.events.campaign, lambda: theirs.campaign.status is CampaignStatus.IN_REVIEW)
        assert theirs.allows(CampaignAction.APPROVE)

        await theirs.transition(CampaignAction.SEND_BACK, "Say “up to 20%”")
        await until(mine.events.campaign, lambda: mine.campaign.status is CampaignStatus.DRAFT)
        assert mine.campaign.sent_back_reason == "Say “up to 20%”"
        await until(read.events.campaign, lambda: read.campaign.status is CampaignStatus.DRAFT)

        with pytest.raises(DesktopError, match="not edit"):
            read.set_text("body", "vandalised")
        await read.refresh()
        assert read.campaign.sent_back_reason == "Say “up to 20%”"


async def test_an_edit_of_a_campaign_under_review_needs_consent_once_per_status(
    live: Live, desktops: Desktops
) -> None:
    cid = await a_campaign(live, "submit", "approve")
    async with opened(await desktops.sign_in(Role.EDITOR), cid) as mine:
        assert mine.campaign.status is CampaignStatus.APPROVED
        assert "voids the approval" in (mine.edit_question() or "")
        mine.agree_to_edit(CampaignStatus.APPROVED)
        assert mine.edit_question() is None
        mine.set_text("body", BODY + "!")
        # The edit voided the approval: the campaign is a draft again, and that needs no question.
        await until(mine.events.campaign, lambda: mine.campaign.status is CampaignStatus.DRAFT)
        assert mine.edit_question() is None
        await mine.transition(CampaignAction.SUBMIT)
        assert "sent to review again" in (mine.edit_question() or "")


async def test_comments_are_written_here_or_by_the_server_and_their_topic_tells(
    live: Live, desktops: Desktops
) -> None:
    cid = await a_campaign(live, "submit")
    editor, reviewer = await desktops.sign_in(Role.EDITOR), await desktops.sign_in(Role.REVIEWER)
    async with opened(editor, cid) as mine, opened(reviewer, cid) as theirs:
        start = len(BODY[: BODY.index("spring sale")].encode())
        thread = await theirs.add_comment("Which dates?", start, start + len(b"spring sale"))
        await until(mine.events.comments, lambda: [t.comment.id for t in mine.threads()] == [thread.id])
        (shown,) = mine.threads()
        assert (shown.quote, shown.comment.author_name) == ("spring sale", "Reviewer")
        answer = await mine.reply(shown.comment, "March 1 to 7")
        assert answer.author_id == editor.session.user_id
        await until(theirs.events.comments, lambda: len(theirs.threads()[0].replies) == 1)
        await theirs.set_resolved(thread, resolved=True)
        await until(mine.events.comments, lambda: mine.threads()[0].resolved)
        with pytest.raises(ValueError, match="needs some text"):
            await mine.add_comment("  ", 0, 1)
    # Comments are not content: still in review.
    campaign = (await live.call("GET", f"/api/campaigns/{cid}", live.team[Role.VIEWER])).json()
    assert campaign["status"] == "in_review"


async def test_versions_are_listed_compared_and_restored(live: Live, desktops: Desktops) -> None:
    cid = await a_campaign(live)
    async with opened(await desktops.sign_in(Role.EDITOR), cid) as mine:
        await mine.create_version("Before the rewrite")
        assert [v.name for v in mine.versions] == ["Before the rewrite"]
        mine.set_text("body", "Rewritten.")
        await until(mine.events.status, lambda: mine.sync.pending == 0)
        (version,) = mine.versions
        assert (await mine.version_content(version)).body == BODY
        told = anyio.Event()
        mine.events.versions.subscribe(told.set)
        await mine.restore(version.id)
        await until(mine.events.texts, lambda: mine.texts()["body"] == BODY)
        await mine.load_versions()
        with anyio.fail_after(5):
            await told.wait()


async def test_each_topic_tells_of_its_own_kind_of_change(live: Live, desktops: Desktops) -> None:
    cid = await a_campaign(live)
    ada, grace = await desktops.sign_in(Role.EDITOR), await desktops.sign_in(Role.OWNER)
    async with opened(ada, cid) as mine, opened(grace, cid) as theirs:
        told: dict[str, int] = {}
        for name in ("status", "peers", "texts", "comments", "versions", "campaign"):
            topic: Topic = getattr(mine.events, name)
            topic.subscribe(lambda name=name: told.__setitem__(name, told.get(name, 0) + 1))  # type: ignore[misc]
        theirs.set_cursor("subject", 0, 3)
        await until(mine.events.peers, lambda: any(p.field == "subject" for p in mine.peers()))
        assert set(told) == {"peers"}
        theirs.set_text("preheader", "Three days only")
        await until(mine.events.texts, lambda: mine.texts()["preheader"] == "Three days only")
        assert "comments" not in told
        assert "campaign" not in told
        assert "versions" not in told
