"""The desktop windows (real Qt widgets, offscreen) against a real server process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFontMetrics
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from justmaily.desktop.engine import comments
from justmaily.desktop.engine.account import Account
from justmaily.desktop.engine.room_client import SyncStatus
from justmaily.desktop.ui.editor import CampaignEditor
from justmaily.desktop.ui.main_window import MainWindow
from justmaily.desktop.ui.tasks import Tasks
from justmaily.shared.campaigns import CampaignAction, CampaignStatus
from justmaily.shared.roles import Permission, Role
from tests.plugins.api import TEST_PASSWORD
from tests.plugins.desktop import Desktops, until
from tests.plugins.live_server import Live
from tests.support.polling import eventually
from tests.support.server_process import free_port

pytestmark = pytest.mark.backends("sqlite")


class Ui:
    def __init__(self, tasks: Tasks, qtbot: QtBot, errors: list[str]) -> None:
        self.tasks = tasks
        self.qtbot = qtbot
        self.errors = errors
        self.windows: list[MainWindow] = []

    def window(self, account: Account) -> MainWindow:
        window = MainWindow(account, self.tasks)
        self.windows.append(window)
        window.show()
        return window

    def close(self) -> None:
        """Close the windows while the event loop still runs (their editors let go of documents)."""
        for window in self.windows:
            while window.tabs.count() > 1:
                window.close_tab(1)
            window.close()
            window.deleteLater()

    async def two_editors(
        self, desktops: Desktops, campaign_id: uuid.UUID
    ) -> tuple[CampaignEditor, CampaignEditor]:
        """The campaign open in two windows: Ada (an editor) and Grace (the owner)."""
        ada, grace = await desktops.sign_in(Role.EDITOR), await desktops.sign_in(Role.OWNER)
        return await self.editor(self.window(ada), campaign_id), await self.editor(
            self.window(grace), campaign_id
        )

    async def editor(self, window: MainWindow, campaign_id: uuid.UUID) -> CampaignEditor:
        campaign = await window.account.api.campaign(campaign_id)
        window.open_campaign(campaign)
        editor = await eventually(lambda: window.editor(campaign_id))
        await until(editor.sync, lambda: editor.sync.status is SyncStatus.ONLINE)
        return editor


@asynccontextmanager
async def ui(qtbot: QtBot) -> AsyncIterator[Ui]:
    errors: list[str] = []
    async with anyio.create_task_group() as group:
        app = Ui(Tasks(group, errors.append), qtbot, errors)
        try:
            yield app
        finally:
            app.close()
            await anyio.sleep(0.05)  # let the closing tasks run
            group.cancel_scope.cancel()


def pixel_colour(widget: QWidget, x: int, y: int) -> str:
    return str(widget.grab().toImage().pixelColor(x, y).name())


async def test_typing_in_one_window_appears_in_another_with_the_typists_caret(
    live: Live, desktops: Desktops, qtbot: QtBot
) -> None:
    campaign_id = uuid.UUID(await live.create_campaign(subject="Spring"))
    async with ui(qtbot) as app:
        mine, theirs = await app.two_editors(desktops, campaign_id)
        ada = mine.model.me
        body = mine.fields["body"]
        body.setFocus()
        QTest.keyClicks(body, "Hello from Ada")
        remote = theirs.fields["body"]
        await eventually(lambda: remote.toPlainText() == "Hello from Ada")
        # Text beyond ASCII and beyond the BMP (Qt counts UTF-16 units, pycrdt UTF-8 bytes).
        body.insertPlainText(" — Grüße 👋!")
        await eventually(lambda: remote.toPlainText() == "Hello from Ada — Grüße 👋!")
        # Grace's own caret stays where she left it while Ada types before it.
        theirs.fields["subject"].setFocus()
        carets = await eventually(remote.remote_carets)
        name, colour, rect = carets[0]
        assert name == ada["name"]
        assert colour == ada["color"]
        assert rect.left() > 0  # after the typed text, not at the start
        assert pixel_colour(remote.viewport(), rect.left(), rect.center().y()) == colour.lower()
        # The presence bar names both, and says who is typing.
        assert ada["name"] in theirs.presence_bar.people.text()
        # The A/B subject lines, under the subject, are shared (and approved) like the rest.
        variants = mine.fields["subject_variants"]
        variants.setFocus()
        QTest.keyClicks(variants, "Last days")
        QTest.keyClick(variants, Qt.Key.Key_Return)
        QTest.keyClicks(variants, "A gift")
        await eventually(lambda: theirs.fields["subject_variants"].toPlainText() == "Last days\nA gift")
        assert app.errors == []


async def test_remote_edits_keep_the_local_caret_in_place(
    live: Live, desktops: Desktops, qtbot: QtBot
) -> None:
    campaign_id = uuid.UUID(await live.create_campaign())
    async with ui(qtbot) as app:
        mine, theirs = await app.two_editors(desktops, campaign_id)
        body = mine.fields["body"]
        body.setFocus()
        QTest.keyClicks(body, "world")
        cursor = body.textCursor()
        cursor.setPosition(2)  # between "wo" and "rld"
        body.setTextCursor(cursor)
        remote = theirs.fields["body"]
        await eventually(lambda: remote.toPlainText() == "world")
        QTest.keyClicks(remote, "Hello ")  # Grace's caret is at the start
        remote_cursor = remote.textCursor()
        remote_cursor.setPosition(0)
        await eventually(lambda: body.toPlainText() in ("Hello world", "worldHello "))
        text = body.toPlainText()
        assert body.textCursor().position() == text.index("world") + 2


async def test_offline_editing_shows_pending_changes_and_syncs_after_restart(
    live: Live, desktops: Desktops, qtbot: QtBot, tmp_path: Path
) -> None:
    campaign_id = uuid.UUID(await live.create_campaign())
    ada = await desktops.sign_in(Role.EDITOR)
    async with ui(qtbot) as app:
        editor = await app.editor(app.window(ada), campaign_id)
        # The footer follows the connection soon after it changes (notify.py), not at once.
        await eventually(lambda: editor.presence_bar.connection.text().startswith("● Online"))
        live.server.stop()
        await until(editor.sync, lambda: editor.sync.status is SyncStatus.OFFLINE)
        body = editor.fields["body"]
        body.setFocus()
        QTest.keyClicks(body, "abc")
        await eventually(lambda: "3 changes waiting" in editor.presence_bar.connection.text())
        live.restart(tmp_path, same_port=True)
        await until(editor.sync, lambda: editor.sync.status is SyncStatus.ONLINE)
        await eventually(lambda: editor.presence_bar.connection.text().startswith("● Online"))
    content = await live.content(live.team[Role.EDITOR], str(campaign_id))
    assert content["body"] == "abc"


async def test_buttons_follow_the_role_and_a_reviewer_approves(
    live: Live, desktops: Desktops, qtbot: QtBot
) -> None:
    campaign_id = uuid.UUID(await live.create_campaign(subject="Launch"))
    viewer, editor, reviewer = (
        await desktops.sign_in(Role.VIEWER),
        await desktops.sign_in(Role.EDITOR),
        await desktops.sign_in(Role.REVIEWER),
    )
    async with ui(qtbot) as app:
        as_viewer = await app.editor(app.window(viewer), campaign_id)
        assert all(field.isReadOnly() for field in as_viewer.fields.values())
        assert as_viewer.review_bar.buttons == {}
        as_viewer.fields["subject"].setFocus()
        QTest.keyClicks(as_viewer.fields["subject"], "!!")
        assert as_viewer.fields["subject"].toPlainText() == "Launch"

        as_editor = await app.editor(app.window(editor), campaign_id)
        assert CampaignAction.APPROVE not in as_editor.review_bar.buttons
        submit = as_editor.review_bar.buttons[CampaignAction.SUBMIT]
        assert submit.isEnabled()
        submit.click()
        await eventually(lambda: as_editor.campaign.status is CampaignStatus.IN_REVIEW)

        as_reviewer = await app.editor(app.window(reviewer), campaign_id)
        await as_reviewer.model.refresh()
        approve = as_reviewer.review_bar.buttons[CampaignAction.APPROVE]
        assert approve.isEnabled()
        assert all(field.isReadOnly() for field in as_reviewer.fields.values())
        approve.click()
        await eventually(lambda: as_reviewer.campaign.status is CampaignStatus.APPROVED)
        assert app.errors == []


async def test_the_campaign_browser_searches_creates_duplicates_and_archives(
    live: Live, desktops: Desktops, qtbot: QtBot
) -> None:
    await live.create_campaign(name="Spring sale", subject="20% off")
    await live.create_campaign(name="Autumn news")
    editor = await desktops.sign_in(Role.EDITOR)
    async with ui(qtbot) as app:
        window = app.window(editor)
        page = window.campaigns
        await eventually(lambda: len(page.campaigns) == 2)
        page.search.setText("spring")
        await eventually(lambda: [c.name for c in page.campaigns] == ["Spring sale"])
        page.table.selectRow(0)
        page.duplicate_button.click()
        await eventually(lambda: {c.name for c in page.campaigns} == {"Spring sale", "Copy of Spring sale"})
        copy = next(c for c in page.campaigns if c.name.startswith("Copy"))
        assert copy.subject == "20% off"
        page.table.selectRow(page.campaigns.index(copy))
        page.archive_button.click()
        await eventually(lambda: [c.name for c in page.campaigns] == ["Spring sale"])
        page.archived.setChecked(True)
        await eventually(lambda: [c.name for c in page.campaigns] == ["Copy of Spring sale"])
        assert app.errors == []


def test_the_window_is_usable_at_150_percent(qapp: QApplication) -> None:
    """Readable at 150%: the editor's single-line fields grow with the font, so text is not clipped."""
    from justmaily.desktop.ui.text_binding import CollabTextEdit

    normal = CollabTextEdit("subject", single_line=True)
    font = normal.font()
    font.setPointSizeF(font.pointSizeF() * 1.5)
    large_app_font = QApplication.font()
    QApplication.setFont(font)
    try:
        large = CollabTextEdit("subject", single_line=True)
    finally:
        QApplication.setFont(large_app_font)
    needed = QFontMetrics(large.font()).lineSpacing() + 2 * large.document().documentMargin()
    assert large.height() > normal.height()
    assert large.height() >= needed


async def test_sign_in_errors_are_messages_not_tracebacks(live: Live, qtbot: QtBot, tmp_path: Path) -> None:
    from justmaily.desktop.ui.sign_in import SignInDialog
    from tests.plugins.desktop import FAST, credentials_for, paths_for

    paths = paths_for(tmp_path, "signin")

    async def sign_in(server: str, email: str, password: str, workspace: str | None) -> Account:
        account = await Account.sign_in(
            server,
            email,
            password,
            workspace=workspace,
            paths=paths,
            credentials=credentials_for(paths),
            timing=FAST,
        )
        await account.close()
        return account

    async with ui(qtbot) as app:
        dialog = SignInDialog(app.tasks, sign_in)
        qtbot.addWidget(dialog)
        cases = [
            ("not a server", "ada@acme.example.com", "x", "not a server address"),
            (f"127.0.0.1:{free_port()}", "ada@acme.example.com", "x", "Cannot reach"),
            (live.url, live.team[Role.EDITOR].email, "wrong password", "password"),
        ]
        for server, email, password, expected in cases:
            dialog.server.setText(server)
            dialog.email.setText(email)
            dialog.password.setText(password)
            dialog.submit()
            await eventually(dialog.buttons.isEnabled)
            assert expected.lower() in dialog.error.text().lower()
        dialog.password.setText(TEST_PASSWORD)
        dialog.submit()
        await eventually(lambda: dialog.account is not None)
        assert dialog.password.text() == ""
        assert app.errors == []


def test_navigation_has_room_for_more_views(qapp: QApplication) -> None:
    from justmaily.desktop.ui import main_window

    # The trust log is built in (it has a banner); registered views (Performance, once its module
    # is imported) come after it.
    assert "Trust log" not in [v.title for v in main_window.EXTRA_VIEWS]
    view = main_window.View("Trust log", lambda _account, _tasks: QWidget(), Permission.MEMBERS_READ)
    assert view.permission is Permission.MEMBERS_READ


def test_desktop_help_works_without_a_display(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [sys.executable, "-m", "justmaily.server.cli", "desktop", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Open the JustMaily desktop app" in result.stdout


async def test_undo_takes_back_only_my_own_typing(live: Live, desktops: Desktops, qtbot: QtBot) -> None:
    campaign_id = uuid.UUID(await live.create_campaign())
    async with ui(qtbot) as app:
        mine, theirs = await app.two_editors(desktops, campaign_id)
        body, remote = mine.fields["body"], theirs.fields["body"]
        body.setFocus()
        QTest.keyClicks(body, "mine ")
        await eventually(lambda: remote.toPlainText() == "mine ")
        remote.moveCursor(remote.textCursor().MoveOperation.End)
        QTest.keyClicks(remote, "theirs")
        await eventually(lambda: body.toPlainText() == "mine theirs")
        QTest.keyClick(body, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        await eventually(lambda: remote.toPlainText() == "theirs")
        assert body.toPlainText() == "theirs"
        QTest.keyClick(
            body, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        )
        await eventually(lambda: remote.toPlainText() == "mine theirs")


async def test_preview_comments_and_versions_follow_the_document(
    live: Live, desktops: Desktops, qtbot: QtBot
) -> None:
    campaign_id = uuid.UUID(await live.create_campaign(subject="Launch"))
    async with ui(qtbot) as app:
        mine, theirs = await app.two_editors(desktops, campaign_id)
        # Grace types Markdown; Ada's preview renders it.
        theirs.fields["body"].setFocus()
        theirs.fields["body"].insertPlainText("# Big news\n\nIt is **here**.")
        await eventually(
            lambda: "It is here." in mine.preview.browser.toPlainText()
        )  # rendered: no asterisks
        assert "Big news" in mine.preview.browser.toPlainText()

        # Ada comments on "news"; Grace's panel shows the thread with the quoted words.
        body = mine.fields["body"]
        start = body.toPlainText().index("news")
        words = "Say what is new"
        comments.add_comment(
            mine.sync, author_id="ada", author_name="Ada", body_text=words, start=start, end=start + 4
        )

        def first_thread() -> tuple[str, str] | None:
            item = theirs.comments.threads.topLevelItem(0)
            return (item.text(0), item.toolTip(0)) if item is not None else None

        words_shown, tooltip = await eventually(first_thread)
        assert words_shown == "Say what is new"
        assert "news" in tooltip

        # A named version, changed text, then the comparison and a restore.
        await mine.model.api.create_version(campaign_id, "Before the rewrite")
        await mine.model.load_versions()
        QTest.keyClicks(body, " Edited.")
        await eventually(lambda: theirs.fields["body"].toPlainText().endswith(" Edited."))
        mine.versions.list.setCurrentRow(0)
        await eventually(lambda: "Edited." in mine.versions.comparison.toPlainText())
        mine.tasks.spawn(mine.model.restore, mine.versions.selected().id)  # type: ignore[union-attr]
        await eventually(lambda: not theirs.fields["body"].toPlainText().endswith(" Edited."))
        assert app.errors == []


async def test_the_app_starts_and_edits_without_the_server(
    live: Live, desktops: Desktops, qtbot: QtBot
) -> None:
    """The whole app (`justmaily desktop`'s DesktopApp): remembered sign-in, server down."""
    from justmaily.desktop.ui.app import DesktopApp
    from tests.plugins.desktop import FAST, credentials_for

    campaign_id = uuid.UUID(await live.create_campaign(name="Offline launch", subject="Hi"))
    first_run = await desktops.sign_in(Role.EDITOR)
    await first_run.campaigns()
    await first_run.close()
    live.server.stop()

    paths = desktops.paths(Role.EDITOR)
    desktop = DesktopApp(paths, credentials_for(paths), FAST)
    async with anyio.create_task_group() as group:
        group.start_soon(desktop.run)
        window = await eventually(lambda: desktop.window)
        page = window.campaigns
        await eventually(lambda: [c.name for c in page.campaigns] == ["Offline launch"])
        assert "Offline" in page.notice.text()
        window.open_campaign(page.campaigns[0])
        editor = await eventually(lambda: window.editor(campaign_id))
        QTest.keyClicks(editor.fields["subject"], " there")
        await eventually(
            lambda: (
                "1 change" in editor.presence_bar.connection.text()
                or "changes waiting" in editor.presence_bar.connection.text()
            )
        )
        assert editor.fields["subject"].toPlainText().endswith(" there")
        window.close()  # the last window: the app ends


async def test_members_of_several_workspaces_can_switch(live: Live, desktops: Desktops, qtbot: QtBot) -> None:
    editor = await desktops.sign_in(Role.EDITOR)
    editor.session.workspaces = [str(editor.session.workspace), "rival"]
    asked: list[str | None] = []
    async with anyio.create_task_group() as group:
        window = MainWindow(editor, Tasks(group, print), on_sign_out=asked.append)
        offered = [a for a in window.findChildren(QAction) if a.text() in editor.session.workspaces]
        assert [a.text() for a in offered] == ["rival"]  # not the workspace you are in
        offered[0].trigger()
        assert asked == ["rival"]
        window.close()
        window.deleteLater()
        group.cancel_scope.cancel()
