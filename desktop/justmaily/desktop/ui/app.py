"""The desktop application: Qt's event loop running asyncio (qasync), one task group for all
background work, sign-in (or the remembered account, offline too), then the main window."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import anyio
import qasync
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from justmaily.desktop.engine.account import Account, Paths
from justmaily.desktop.engine.credentials import Credentials
from justmaily.desktop.engine.room_client import Timing
from justmaily.desktop.ui import performance  # noqa: F401 - registers the Performance view
from justmaily.desktop.ui.main_window import MainWindow
from justmaily.desktop.ui.sign_in import SignInDialog
from justmaily.desktop.ui.tasks import Tasks, show_error


class DesktopApp:
    """The app's life: a session per sign-in (its account and main window), until the user quits.

    The app ends when the user closes the main window (or cancels the sign-in form), never merely
    because no window is visible: between the sign-in form closing and the main window opening
    there is none, and Qt's `lastWindowClosed` would end the app right after signing in."""

    def __init__(
        self, paths: Paths, credentials: Credentials | None = None, timing: Timing | None = None
    ) -> None:
        self.paths = paths
        self.credentials = credentials or Credentials(paths.config)
        self.timing = timing
        self.window: MainWindow | None = None
        self.account: Account | None = None
        self.on_error: Callable[[str], None] = lambda message: show_error(self.window, message)
        self._session_over = anyio.Event()
        self._quitting = False
        self._closing = False
        self._signing_out = False
        self._next_workspace: str | None = None

    def _error(self, message: str) -> None:
        if self.account is not None and self.account.sign_in_ended.is_set():
            return  # the sign-in form that opens now says so
        if self._closing or self.window is None:
            # Work of a window that is closing or closed failed as it stopped: nobody is looking
            # (the sign-in form shows its own errors).
            return
        self.on_error(message)

    async def run(self) -> None:
        async with anyio.create_task_group() as group:
            tasks = Tasks(group, self._error)
            self.account = await Account.resume(
                paths=self.paths, credentials=self.credentials, timing=self.timing
            )
            notice = ""
            while True:
                if self.account is None:
                    self.account = await self._sign_in(tasks, notice)
                    if self.account is None:
                        break  # the form was cancelled
                notice = await self._session(self.account, tasks)
                self.account = None
                if self._quitting:
                    break
            group.cancel_scope.cancel()

    async def _session(self, account: Account, tasks: Tasks) -> str:
        """Show the main window until the user quits or signs out, or the sign-in stops working;
        then let go of it. Returns what the next sign-in form should say."""
        self._session_over = anyio.Event()
        self._signing_out, self._next_workspace = False, None
        window = MainWindow(account, tasks, on_sign_out=self._sign_out)
        window.closed.connect(self._quit)
        self.window = window
        window.show()
        await _first(self._session_over.wait, account.sign_in_ended.wait)
        ended = account.sign_in_ended.is_set()
        await self._close_window(window, tasks)
        if self._signing_out:
            await account.sign_out()
            self._offer_workspace(self._next_workspace)
        else:
            await account.close()
        return "Your sign-in has ended: sign in again." if ended and not self._quitting else ""

    async def _close_window(self, window: MainWindow, tasks: Tasks) -> None:
        """Close the window and wait until the work it started has stopped: only then may the
        account (its store, its connections) close under it."""
        self._closing = True
        window.closed.disconnect(self._quit)
        window.shut_down()
        window.hide()
        gone = anyio.Event()
        window.destroyed.connect(lambda *_: gone.set())
        window.deleteLater()  # its widgets' work is cancelled as they go (`Tasks.spawn`)
        await gone.wait()
        self.window = None
        await tasks.settle()
        self._closing = False

    def _quit(self) -> None:
        self._quitting = True
        self._session_over.set()

    def _sign_out(self, workspace: str | None) -> None:
        """Sign out; with a workspace, the sign-in form that follows offers that one."""
        self._signing_out, self._next_workspace = True, workspace
        self._session_over.set()

    def _offer_workspace(self, workspace: str | None) -> None:
        profile = self.credentials.profile()
        if workspace is not None and profile is not None:
            profile.workspace = workspace
            self.credentials.remember(profile, None)

    async def _sign_in(self, tasks: Tasks, notice: str = "") -> Account | None:
        done = anyio.Event()

        async def sign_in(server: str, email: str, password: str, workspace: str | None) -> Account:
            return await Account.sign_in(
                server,
                email,
                password,
                workspace=workspace,
                paths=self.paths,
                credentials=self.credentials,
                timing=self.timing,
            )

        dialog = SignInDialog(tasks, sign_in, self.credentials.profile(), notice=notice)
        dialog.finished.connect(lambda _result: done.set())
        dialog.show()
        await done.wait()
        dialog.deleteLater()
        return dialog.account


async def _first(*waits: Callable[[], object]) -> None:
    """Return when the first of the waits returns."""
    async with anyio.create_task_group() as group:

        async def wait(w: Callable[[], object]) -> None:
            await w()  # type: ignore[misc]
            group.cancel_scope.cancel()

        for w in waits:
            group.start_soon(wait, w)


def run(paths: Paths | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("JustMaily")
    app.setQuitOnLastWindowClosed(False)  # the loop ends when `DesktopApp.run` returns
    font = QFont(app.font())
    font.setPointSize(max(font.pointSize(), 10))
    app.setFont(font)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(DesktopApp(paths or Paths.default()).run())
    return 0
