"""Review in the editor (real widgets, offscreen, against a real server): asking before an edit
voids a review, status changes shown live, reviewers' comments and send-back reasons."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from justmaily.desktop.engine import comments
from justmaily.desktop.ui.editor import CampaignEditor
from justmaily.shared.campaigns import CampaignAction, CampaignStatus
from justmaily.shared.roles import Role
from tests.desktop.ui.test_windows import ui
from tests.plugins.desktop import Desktops
from tests.plugins.live_server import Live
from tests.support.polling import eventually

pytestmark = pytest.mark.backends("sqlite")
BODY = "Grüße! Our spring sale ends on Friday."


async def campaign_in(live: Live, *actions: str) -> uuid.UUID:
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


async def server_view(live: Live, cid: uuid.UUID) -> tuple[str, dict[str, Any]]:
    content = await live.content(live.team[Role.VIEWER], str(cid))
    campaign = (await live.call("GET", f"/api/campaigns/{cid}", live.team[Role.VIEWER])).json()
    return content["body"], campaign


def consent_box(editor: CampaignEditor) -> QMessageBox | None:
    box = editor._consent_box
    return box if box is not None and box.isVisible() else None


def status_shown(editor: CampaignEditor) -> str:
    return editor.review_bar.status_label.text().replace("<b>", "").replace("</b>", "")


async def test_editing_an_approved_campaign_asks_first_and_every_view_shows_the_new_status(
    live: Live, desktops: Desktops, qtbot: QtBot
) -> None:
    cid = await campaign_in(live, "submit", "approve")
    async with ui(qtbot) as app:
        window = app.window(await desktops.sign_in(Role.EDITOR))
        mine = await app.editor(window, cid)
        theirs = await app.editor(app.window(await desktops.sign_in(Role.REVIEWER)), cid)
        assert status_shown(mine) == "Status: approved"
        body = mine.fields["body"]
        body.setFocus()
        body.moveCursor(body.textCursor().MoveOperation.End)

        # Declined: the text stays as it was, here and on the server; still approved.
        QTest.keyClicks(body, "!")
        box = await eventually(lambda: consent_box(mine))
        assert "voids the approval" in box.text()
        assert body.toPlainText() == BODY
        box.button(QMessageBox.StandardButton.No).click()
        assert body.toPlainText() == BODY
        assert str(mine.sync.text("body")) == BODY
        server_body, campaign = await server_view(live, cid)
        assert (server_body, campaign["status"]) == (BODY, "approved")

        # Accepted: the edit is made, the campaign returns to draft, and everyone sees it at once.
        QTest.keyClicks(body, "!")
        box = await eventually(lambda: consent_box(mine))
        box.button(QMessageBox.StandardButton.Yes).click()
        assert body.toPlainText() == BODY + "!"
        await eventually(lambda: status_shown(mine) == "Status: draft")
        await eventually(lambda: status_shown(theirs) == "Status: draft")
        assert mine.review_bar.buttons[CampaignAction.SUBMIT].isEnabled()
        assert not theirs.review_bar.buttons[CampaignAction.APPROVE].isEnabled()
        page = window.campaigns
        await eventually(lambda: [c.status for c in page.campaigns] == [CampaignStatus.DRAFT])
        shown_status = page.table.item(0, 2)
        assert shown_status is not None
        assert shown_status.text() == "draft"
        server_body, campaign = await server_view(live, cid)
        assert (server_body, campaign["status"]) == (BODY + "!", "draft")

        # A draft needs no question; in review again, it asks again.
        QTest.keyClicks(body, "?")
        assert consent_box(mine) is None
        await eventually(lambda: str(mine.sync.text("body")).endswith("!?"))
        mine.review_bar.buttons[CampaignAction.SUBMIT].click()
        await eventually(lambda: status_shown(theirs) == "Status: in review")
        QTest.keyClicks(body, "?")
        box = await eventually(lambda: consent_box(mine))
        assert "sent to review again" in box.text()
        box.button(QMessageBox.StandardButton.No).click()
        assert body.toPlainText() == BODY + "!?"

        # Restoring a version is an edit too: it asks first.
        await mine.model.load_versions()
        mine.versions.list.setCurrentRow(
            mine.versions.list.count() - 1
        )  # the oldest: as first sent to review
        mine.versions.restore_selected()
        box = await eventually(lambda: consent_box(mine))
        box.button(QMessageBox.StandardButton.No).click()
        server_body, campaign = await server_view(live, cid)
        assert (server_body, campaign["status"]) == (BODY + "!?", "in_review")
        assert app.errors == []


async def test_reviewers_comment_and_send_back_with_a_reason_the_editors_see(
    live: Live, desktops: Desktops, qtbot: QtBot
) -> None:
    cid = await campaign_in(live, "submit")
    async with ui(qtbot) as app:
        mine = await app.editor(app.window(await desktops.sign_in(Role.EDITOR)), cid)
        theirs = await app.editor(app.window(await desktops.sign_in(Role.REVIEWER)), cid)
        viewer = await app.editor(app.window(await desktops.sign_in(Role.VIEWER)), cid)
        assert theirs.sync.read_only
        assert viewer.review_bar.buttons == {}
        content_hash = (await live.content(live.team[Role.VIEWER], str(cid)))["content_hash"]

        # The reviewer selects "spring sale" and comments: the server writes it for them.
        body = theirs.fields["body"]
        cursor = body.textCursor()
        cursor.setPosition(BODY.index("spring"))
        cursor.setPosition(BODY.index("spring") + len("spring sale"), cursor.MoveMode.KeepAnchor)
        body.setTextCursor(cursor)
        theirs.comments.comment_on_selection("Which dates?")

        def thread_in(editor: CampaignEditor) -> tuple[str, str] | None:
            item = editor.comments.threads.topLevelItem(0)
            return (item.text(0), item.toolTip(0)) if item is not None else None

        shown, quoted = await eventually(lambda: thread_in(mine))
        assert shown == "Which dates?"
        assert "spring sale" in quoted
        (thread,) = await eventually(lambda: comments.threads(theirs.sync.doc))
        theirs.comments.reply_to(thread, "And the region?")
        await eventually(
            lambda: (item := mine.comments.threads.topLevelItem(0)) is not None and item.childCount() == 1
        )
        # Comments are not content: still in review, same hash, no question for anyone.
        _body, campaign = await server_view(live, cid)
        assert campaign["status"] == "in_review"
        assert (await live.content(live.team[Role.VIEWER], str(cid)))["content_hash"] == content_hash
        assert status_shown(mine) == "Status: in review"

        # Viewers may not comment: the buttons say so.
        add = viewer.findChild(QPushButton, "comment-add")
        assert add is not None
        assert not add.isEnabled()

        # Sent back with a reason: the editors see it at once.
        theirs.tasks.spawn(theirs.model.transition, CampaignAction.SEND_BACK, "Say “up to 20%”, please")
        await eventually(mine.review_bar.sent_back.isVisible)
        assert "Say “up to 20%”, please" in mine.review_bar.sent_back.text()
        assert status_shown(mine) == "Status: draft"

        # Offline, a reviewer's comment cannot be written: the message says why.
        live.server.stop()
        theirs.comments.comment_on_selection("Offline?")
        await eventually(lambda: app.errors)
        assert "Comments need the server" in app.errors[0]
