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
from justmaily.desktop.engine.sync import Timing
from justmaily.desktop.ui.main_window import MainWindow
from justmaily.desktop.ui.sign_in import SignInDialog
from justmaily.desktop.ui.tasks import Tasks, show_error


class DesktopApp:
    def __init__(
        self, paths: Paths, credentials: Credentials | None = None, timing: Timing | None = None
    ) -> None:
        self.paths = paths
        self.credentials = credentials or Credentials(paths.config)
        self.timing = timing
        self.window: MainWindow | None = None
        self.account: Account | None = None
        self._quit = anyio.Event()

    def _error(self, message: str) -> None:
        show_error(self.window, message)

    async def run(self) -> None:
        async with anyio.create_task_group() as group:
            tasks = Tasks(group, self._error)
            self.account = await Account.resume(
                paths=self.paths, credentials=self.credentials, timing=self.timing
            )
            app = QApplication.instance()
            assert isinstance(app, QApplication)
            app.lastWindowClosed.connect(self._quit.set)
            while not self._quit.is_set():
                if self.account is None:
                    self.account = await self._sign_in(tasks)
                    if self.account is None:
                        break
                self.window = MainWindow(self.account, tasks, on_sign_out=self._signing_out(tasks))
                self.window.show()
                signed_out = anyio.Event()
                self._signed_out = signed_out
                await _first(self._quit.wait, signed_out.wait)
                await self.account.close()
                self.account = None
                self.window.deleteLater()
            group.cancel_scope.cancel()

    async def _sign_in(self, tasks: Tasks) -> Account | None:
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

        dialog = SignInDialog(tasks, sign_in, self.credentials.profile())
        dialog.finished.connect(lambda _result: done.set())
        dialog.show()
        await done.wait()
        return dialog.account

    def _signing_out(self, tasks: Tasks) -> Callable[[str | None], None]:
        def sign_out(workspace: str | None) -> None:
            async def work() -> None:
                if self.account is not None:
                    await self.account.sign_out()
                profile = self.credentials.profile()
                if workspace is not None and profile is not None:
                    profile.workspace = workspace
                    self.credentials.remember(profile, None)
                self._signed_out.set()  # the sign-in dialog opens before this window goes

            tasks.spawn(work)

        return sign_out


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
