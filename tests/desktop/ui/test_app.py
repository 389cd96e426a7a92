"""The whole app (`justmaily desktop`'s DesktopApp) signing in through its real sign-in dialog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from justmaily.desktop.ui.app import DesktopApp
from justmaily.desktop.ui.main_window import MainWindow
from justmaily.desktop.ui.sign_in import SignInDialog
from justmaily.desktop.ui.tasks import show_error
from justmaily.shared.roles import Role
from tests.plugins.api import TEST_PASSWORD
from tests.plugins.desktop import FAST, Desktops, credentials_for, paths_for
from tests.plugins.live_server import Live
from tests.support.polling import eventually

pytestmark = pytest.mark.backends("sqlite")


class Running:
    """A DesktopApp running in the test's task group, and whether `run()` has returned."""

    def __init__(self, app: DesktopApp) -> None:
        self.app = app
        self.ended = anyio.Event()
        self.failure: BaseException | None = None

    async def run(self) -> None:
        try:
            await self.app.run()
        except BaseException as exc:  # the assertions say what ended it
            self.failure = exc
            raise
        finally:
            self.ended.set()

    def dialog(self) -> SignInDialog | None:
        """The sign-in dialog on screen, if any."""
        shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, SignInDialog) and w.isVisible()]
        return shown[-1] if shown else None

    def window(self) -> MainWindow | None:
        window = self.app.window
        return window if window is not None and window.isVisible() else None

    async def sign_in_through_the_dialog(self, email: str) -> MainWindow:
        dialog = await eventually(self.dialog)
        dialog.email.setText(email)
        dialog.password.setText(TEST_PASSWORD)
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
        window = await eventually(self.window)
        assert window.account.session.email == email
        # The app keeps running after the dialog went: the window loads the campaigns.
        await eventually(lambda: window.campaigns.notice.text() == "" and window.campaigns.table.rowCount())
        await anyio.sleep(0.3)  # a quitting app would have ended by now
        assert not self.ended.is_set(), f"the app ended after signing in ({self.failure!r})"
        assert window.isVisible()
        return window


@asynccontextmanager
async def running(app: DesktopApp) -> AsyncIterator[Running]:
    state = Running(app)
    async with anyio.create_task_group() as group:
        group.start_soon(state.run)
        try:
            yield state
        finally:
            if not state.ended.is_set() and state.app.window is not None:
                state.app.window.close()
            dialog = state.dialog()
            if dialog is not None:
                dialog.reject()
            with anyio.fail_after(10):
                await state.ended.wait()


async def test_the_first_sign_in_opens_the_main_window_and_the_app_keeps_running(
    live: Live, qtbot: QtBot, tmp_path: Path
) -> None:
    await live.create_campaign(name="Welcome")
    paths = paths_for(tmp_path, "first-run")
    app = DesktopApp(paths, credentials_for(paths), FAST)
    errors: list[str] = []
    app.on_error = errors.append
    async with running(app) as state:
        dialog = await eventually(state.dialog)
        dialog.server.setText(live.url)
        window = await state.sign_in_through_the_dialog(live.team[Role.EDITOR].email)
        assert [c.name for c in window.campaigns.campaigns] == ["Welcome"]

        # Sign out: the form comes back (prefilled), and signing in again keeps the app running.
        sign_out = next(a for a in window.findChildren(QAction) if a.text() == "Sign &out")
        sign_out.trigger()
        dialog = await eventually(state.dialog)
        assert dialog.server.text() == live.url
        assert dialog.email.text() == live.team[Role.EDITOR].email
        await eventually(lambda: state.app.window is None or not state.app.window.isVisible())
        second = await state.sign_in_through_the_dialog(live.team[Role.REVIEWER].email)
        assert second is not window

        # Quitting from the window ends the app.
        quit_action = next(a for a in second.findChildren(QAction) if a.text() == "&Quit")
        quit_action.trigger()
        with anyio.fail_after(10):
            await state.ended.wait()
    assert state.failure is None
    assert errors == []


async def test_a_sign_in_that_stopped_working_opens_the_sign_in_form(
    live: Live, desktops: Desktops, qtbot: QtBot
) -> None:
    """The remembered refresh token was revoked elsewhere: the app asks to sign in again."""
    await live.create_campaign(name="Kept")
    remembered = await desktops.sign_in(Role.EDITOR)
    await remembered.campaigns()
    # Signed out elsewhere (another device, an admin): this installation's token no longer works.
    token = remembered.credentials.refresh_token(remembered.session)
    assert token is not None
    await remembered.api.sign_out()
    remembered.credentials.remember(remembered.session, token)
    await remembered.close()

    paths = desktops.paths(Role.EDITOR)
    app = DesktopApp(paths, credentials_for(paths), FAST)
    errors: list[str] = []
    app.on_error = errors.append
    async with running(app) as state:
        dialog = await eventually(state.dialog)
        assert "sign in again" in dialog.error.text().lower()
        assert dialog.email.text() == live.team[Role.EDITOR].email
        assert dialog.server.text() == live.url
        assert errors == []  # the form says it; no other message box
        await state.sign_in_through_the_dialog(live.team[Role.EDITOR].email)
        assert state.app.credentials.refresh_token(remembered.session) not in (None, token)


async def test_work_that_fails_while_its_window_closes_ends_quietly(
    live: Live, desktops: Desktops, qtbot: QtBot
) -> None:
    """Work not owned by a widget (the open campaign's model) can fail after the window is
    gone: its message has no window to show in, and the app still ends cleanly."""
    from justmaily.desktop.engine.errors import DesktopError, ErrorKind

    await live.create_campaign(name="Closing")
    remembered = await desktops.sign_in(Role.EDITOR)
    await remembered.close()
    paths = desktops.paths(Role.EDITOR)
    app = DesktopApp(paths, credentials_for(paths), FAST)
    shown: list[str] = []

    def on_error(message: str) -> None:
        shown.append(message)
        show_error(app.window, message)  # what the app does: a deleted window would raise

    app.on_error = on_error
    window_gone = anyio.Event()

    async def fails_once_the_window_is_gone() -> None:
        await window_gone.wait()
        raise DesktopError(ErrorKind.UNREACHABLE, "the server could not be reached")

    async with running(app) as state:
        window = await eventually(state.window)
        window.destroyed.connect(lambda *_: window_gone.set())
        window.tasks.spawn(fails_once_the_window_is_gone)
        window.close()
        with anyio.fail_after(10):
            await state.ended.wait()
    assert state.failure is None
    assert shown == []
