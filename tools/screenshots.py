"""Screenshots of the desktop windows for the README, rendered offscreen against a demo server.

`python -m tools.screenshots [OUT_DIR] [--scale 1.5]` from the repository's root (run with
QT_QPA_PLATFORM=offscreen; `just screenshots` does both scales). A developer's tool: it drives
the desktop app as a user would, and is not part of the shipped package. It starts `justmaily serve --demo`
as a subprocess on a free loopback port with its data in a temporary folder (the desktop never
imports the server), signs in the demo editor and reviewer as two separate desktop installations
(temporary folders, tokens in a private file: the user's own keyring and settings are never
touched), and saves the sign-in dialog, the campaign list, the editor with the other person's
caret and presence, and the owner's Performance view. File names carry the scale: `editor.png`,
`editor@1.5x.png`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import anyio
import click
import httpx
import msgspec
import qasync
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from justmaily.desktop.engine import comments
from justmaily.desktop.engine.account import Account, Paths
from justmaily.desktop.engine.credentials import Credentials, FileSecrets
from justmaily.desktop.engine.room_client import SyncStatus
from justmaily.desktop.ui.editor import CampaignEditor
from justmaily.desktop.ui.main_window import MainWindow
from justmaily.desktop.ui.performance import PerformancePage
from justmaily.desktop.ui.sign_in import SignInDialog
from justmaily.desktop.ui.tasks import Tasks
from justmaily.desktop.ui.text_binding import CollabTextEdit
from justmaily.shared.campaigns import Campaign

T = TypeVar("T")

OWNER_EMAIL = "owner@demo.example.com"
EDITOR_EMAIL = "editor@demo.example.com"
REVIEWER_EMAIL = "reviewer@demo.example.com"
CAMPAIGN = "Spring sale"
TYPED = " Members save another 5%."  # typed after the body's "until Sunday."
REVIEWER_SELECTS = "Outdoor furniture"
OFFER = "**20% off**"  # the editor comments on it
PERFORMANCE_SNAPSHOTS = 12  # polled at PERFORMANCE_POLL, with the campaigns listed in between
PERFORMANCE_POLL = 0.3
SERVER_START_SECONDS = 30.0
WAIT_SECONDS = 20.0


class ScreenshotError(RuntimeError):
    """Something the screenshots wait for did not happen (the message says what)."""


class DemoServer(msgspec.Struct, frozen=True):
    url: str
    password: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def demo_server(data_dir: Path) -> Iterator[DemoServer]:
    """`justmaily serve --demo` on a free loopback port with its data in `data_dir`; stopped after."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUSTMAILY_")}
    env.update(JUSTMAILY_DATA_DIR=str(data_dir), JUSTMAILY_LOG_FORMAT="console")
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    command = [sys.executable, "-m", "justmaily.server.cli", "serve", "--demo"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not _ready(url):
            if process.poll() is not None:
                raise ScreenshotError(f"the demo server exited with {process.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise ScreenshotError(
                    f"the demo server was not ready after {SERVER_START_SECONDS:g} s:\n{_tail(log_path)}"
                )
            time.sleep(0.1)
        yield DemoServer(url=url, password=(data_dir / "demo-password").read_text().strip())
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def _tail(log_path: Path, lines: int = 30) -> str:
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def _installation(home: Path) -> tuple[Paths, Credentials]:
    """A desktop installation of its own: config, data and tokens all under `home`."""
    paths = Paths(home / "config", home / "data")
    return paths, Credentials(paths.config, FileSecrets(paths.config / "tokens.json"))


class _Shots:
    """The windows, accounts and background tasks of one screenshot run."""

    def __init__(self, tasks: Tasks, errors: list[str], out_dir: Path, suffix: str) -> None:
        self.tasks = tasks
        self.errors = errors
        self.out_dir = out_dir
        self.suffix = suffix
        self.saved: list[Path] = []
        self.windows: list[QWidget] = []
        self.accounts: list[Account] = []

    async def eventually(self, what: str, probe: Callable[[], T | None]) -> T:
        """Poll `probe` (bounded) while Qt and asyncio run, until it gives something truthy."""
        try:
            with anyio.fail_after(WAIT_SECONDS):
                while True:
                    if self.errors:
                        raise ScreenshotError(f"while waiting for {what}: {self.errors[0]}")
                    found = probe()
                    if found:
                        return found
                    await anyio.sleep(0.05)
        except TimeoutError:
            raise ScreenshotError(f"timed out after {WAIT_SECONDS:g} s waiting for {what}") from None

    async def save(self, widget: QWidget, name: str) -> Path:
        await anyio.sleep(0.3)  # layouts, the preview's timer and repaints settle
        path = self.out_dir / f"{name}{self.suffix}.png"
        if not widget.grab().save(str(path)):
            raise ScreenshotError(f"could not write {path}")
        self.saved.append(path)
        click.echo(path)
        return path

    def window(self, account: Account) -> MainWindow:
        window = MainWindow(account, self.tasks)
        self.windows.append(window)
        window.show()
        return window

    async def open(self, window: MainWindow, campaign: Campaign) -> CampaignEditor:
        window.open_campaign(campaign)
        editor = await self.eventually(f"the {campaign.name!r} tab", lambda: window.editor(campaign.id))
        await self.eventually(
            f"{window.account.session.email} to be online in {campaign.name!r}",
            lambda: editor.sync.status is SyncStatus.ONLINE,
        )
        return editor

    def close(self) -> None:
        """Close the windows while the loop still runs (their editors let go of the documents)."""
        for widget in self.windows:
            if isinstance(widget, MainWindow):
                while widget.tabs.count() > 1:
                    widget.close_tab(1)
            widget.close()
            widget.deleteLater()
        self.windows.clear()


async def _shoot(server: DemoServer, home: Path, out_dir: Path, suffix: str) -> list[Path]:
    errors: list[str] = []
    async with anyio.create_task_group() as group:
        shots = _Shots(Tasks(group, errors.append), errors, out_dir, suffix)
        try:
            await _take(shots, server, home)
        finally:
            shots.close()
            await anyio.sleep(0.1)  # the closing tasks run
            for account in shots.accounts:
                await account.close()
            group.cancel_scope.cancel()
    return shots.saved


async def _take(shots: _Shots, server: DemoServer, home: Path) -> None:
    editor = await _sign_in(shots, server, home / "editor")
    window = shots.window(editor)
    await shots.eventually("the demo campaigns", lambda: len(window.campaigns.campaigns) >= 3)
    await shots.save(window, "campaigns")
    campaign = next((c for c in window.campaigns.campaigns if c.name == CAMPAIGN), None)
    if campaign is None:
        raise ScreenshotError(f"the demo workspace has no campaign {CAMPAIGN!r}")
    paths, credentials = _installation(home / "reviewer")
    reviewer = await Account.sign_in(
        server.url, REVIEWER_EMAIL, server.password, paths=paths, credentials=credentials
    )
    shots.accounts.append(reviewer)
    await _co_editing(shots, window, shots.window(reviewer), campaign)
    await _performance(shots, server, home / "owner")


async def _sign_in(shots: _Shots, server: DemoServer, home: Path) -> Account:
    """The sign-in dialog, filled in (saved), then signing in through it as the editor."""
    paths, credentials = _installation(home)

    async def sign_in(url: str, email: str, password: str, workspace: str | None) -> Account:
        account = await Account.sign_in(
            url, email, password, workspace=workspace, paths=paths, credentials=credentials
        )
        shots.accounts.append(account)
        return account

    dialog = SignInDialog(shots.tasks, sign_in)
    shots.windows.append(dialog)
    dialog.server.setText(server.url)
    dialog.email.setText(EDITOR_EMAIL)
    dialog.password.setText(server.password)
    dialog.resize(max(dialog.sizeHint().width(), 480), dialog.sizeHint().height())
    dialog.show()
    dialog.server.deselect()
    await shots.save(dialog, "sign-in")
    dialog.submit()

    def signed_in() -> Account | None:
        if dialog.account is None and dialog.buttons.isEnabled():  # refused: the dialog says why
            raise ScreenshotError(f"signing in as {EDITOR_EMAIL} failed: {dialog.error.text()}")
        return dialog.account

    account = await shots.eventually(f"signing in as {EDITOR_EMAIL}", signed_in)
    dialog.close()
    return account


async def _co_editing(
    shots: _Shots, window: MainWindow, reviewer_window: MainWindow, campaign: Campaign
) -> None:
    """The editor's window on the campaign while the reviewer reads along: carets and presence."""
    mine = await shots.open(window, campaign)
    reviewer_window.move(80, 60)
    theirs = await shots.open(reviewer_window, campaign)

    # The reviewer has a few words selected.
    reviewer_body = theirs.fields["body"]
    reviewer_window.activateWindow()
    reviewer_body.setFocus()
    _select(reviewer_body, REVIEWER_SELECTS)

    # The editor types into the body, and leaves a comment on the offer.
    window.activateWindow()
    body = mine.fields["body"]
    body.setFocus()
    _select(body, "until Sunday.", at_end=True)
    QTest.keyClicks(body, TYPED)
    offer = body.toPlainText().encode().find(OFFER.encode())
    if offer >= 0:
        editor = window.account
        comments.add_comment(
            mine.sync,
            author_id=editor.session.user_id,
            author_name=editor.presence["name"],
            body_text="Legal asked us to say “up to 20%”: OK?",
            start=offer,
            end=offer + len(OFFER.encode()),
        )
    await shots.eventually(
        "the typed words in the reviewer's window", lambda: TYPED.strip() in reviewer_body.toPlainText()
    )
    await shots.eventually("the reviewer's caret in the editor's window", body.remote_carets)
    await shots.eventually("the editor's caret in the reviewer's window", reviewer_body.remote_carets)
    reviewer_name = reviewer_window.account.presence["name"]
    await shots.eventually(
        "the reviewer in the presence bar", lambda: reviewer_name in mine.presence_bar.people.text()
    )
    await shots.save(window, "editor")


async def _performance(shots: _Shots, server: DemoServer, home: Path) -> None:
    """The owner's Performance view after a few polls, with some traffic between them."""
    paths, credentials = _installation(home)
    owner = await Account.sign_in(
        server.url, OWNER_EMAIL, server.password, paths=paths, credentials=credentials
    )
    shots.accounts.append(owner)
    window = shots.window(owner)
    pages = (window.pages.widget(index) for index in range(window.pages.count()))
    page = next((p for p in pages if isinstance(p, PerformancePage)), None)
    if page is None:
        raise ScreenshotError(f"{OWNER_EMAIL} has no Performance view")
    page.every = PERFORMANCE_POLL
    window.navigation.setCurrentRow(window.pages.indexOf(page))
    snapshots = page.dashboard.history.snapshots
    for round_ in range(PERFORMANCE_SNAPSHOTS):
        for _ in range(round_ % 4 + 1):  # a varying load, so the lines are not flat
            await owner.campaigns()
        seen = len(snapshots)
        await shots.eventually("another performance snapshot", lambda: len(snapshots) > seen)  # noqa: B023
    await shots.save(window, "performance")


def _select(field: CollabTextEdit, words: str, *, at_end: bool = False) -> None:
    """Select `words` in `field` (or put the caret after them); the caret goes to others."""
    start = field.toPlainText().find(words)
    if start < 0:
        return
    cursor = field.textCursor()
    if at_end:
        cursor.setPosition(start + len(words))
    else:
        cursor.setPosition(start)
        cursor.setPosition(start + len(words), QTextCursor.MoveMode.KeepAnchor)
    field.setTextCursor(cursor)


def main(out_dir: Path, scale: float = 1.0) -> list[Path]:
    """Render the screenshots into `out_dir` at `scale` (1.5: 150%); returns the files written.

    The scale applies to the QApplication this creates: call it once per process."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the same rendering on every machine
    if QApplication.instance() is None:
        os.environ["QT_SCALE_FACTOR"] = f"{scale:g}"  # read once, when the QApplication is made
    elif scale != 1.0:
        raise ScreenshotError("the scale must be set before the QApplication exists")
    suffix = "" if scale == 1.0 else f"@{scale:g}x"
    out_dir.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("JustMaily")
    app.setQuitOnLastWindowClosed(False)  # closing the screenshots' windows must not end the loop
    font = QFont(app.font())  # as the app does (app.py)
    font.setPointSize(max(font.pointSize(), 10))
    app.setFont(font)
    with (
        tempfile.TemporaryDirectory(prefix="justmaily-screenshots-") as temporary,
        demo_server(Path(temporary) / "server") as server,
    ):
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            saved: list[Path] = loop.run_until_complete(_shoot(server, Path(temporary), out_dir, suffix))
        asyncio.set_event_loop(None)
        return saved


@click.command(help="Render screenshots of the desktop windows (offscreen) against a demo server.")
@click.argument("out_dir", default=Path("docs/screenshots"), type=click.Path(path_type=Path, file_okay=False))
@click.option("--scale", default=1.0, show_default=True, type=click.FloatRange(0.5, 4.0), help="1.5: 150%.")
def cli(out_dir: Path, scale: float) -> None:
    try:
        main(out_dir, scale)
    except ScreenshotError as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    cli()
