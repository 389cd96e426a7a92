"""The trust log view and the fork banner: real widgets offscreen, the monitor against a real
server process, and a forged fork for the banner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from justmaily.desktop.engine.account import Account
from justmaily.desktop.engine.credentials import Profile
from justmaily.desktop.engine.trust_monitor import TrustMonitor, TrustStatus
from justmaily.desktop.engine.trust_store import Fork, TrustStore
from justmaily.desktop.ui.main_window import MainWindow
from justmaily.desktop.ui.tasks import Tasks
from justmaily.shared.roles import Role
from justmaily.shared.trust import CertificateStatus, TreeHead
from justmaily.visualizations.trust_log import ALARM_COLOUR, MATCH_COLOUR
from tests.desktop.ui.test_windows import pixel_colour
from tests.plugins.desktop import FAST, Desktops, credentials_for, paths_for
from tests.plugins.live_server import Live
from tests.server.delivery.steps import approved_campaign
from tests.support.polling import eventually
from tests.support.server_process import free_port

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def live_env() -> dict[str, str]:
    return {"JUSTMAILY_LOG_PUBLISH_SECONDS": "0.1"}


@asynccontextmanager
async def window_of(account: Account) -> AsyncIterator[tuple[MainWindow, list[str]]]:
    errors: list[str] = []
    async with anyio.create_task_group() as group:
        window = MainWindow(account, Tasks(group, errors.append))
        window.show()
        try:
            yield window, errors
        finally:
            window.close()
            window.deleteLater()
            await anyio.sleep(0.05)  # let the cancelled checks end
            group.cancel_scope.cancel()


async def test_the_trust_log_shows_the_chain_growing_after_an_approval(
    live: Live, desktops: Desktops, qtbot: QtBot
) -> None:
    account = await desktops.sign_in(Role.VIEWER)
    async with window_of(account) as (window, errors):
        page = window.trust_log
        assert page is not None
        window.show_trust_log()
        assert window.pages.currentWidget() is page
        # The check at start verifies the first head (the log's own key entry).
        await eventually(lambda: len(page.chain.points.points()) >= 1)
        before = len(page.chain.points.points())
        assert page.status.text().startswith("Consistent")
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
            await approved_campaign(client, live.team, subject="Spring", body="Hello")

        async def check_once() -> None:
            checked = anyio.Event()
            unsubscribe = account.trust.subscribe(checked.set)  # after the page's own listener
            try:
                page.check_button.click()
                await checked.wait()
            finally:
                unsubscribe()

        with anyio.fail_after(10):  # until the publisher has signed the grown log
            while len(page.chain.points.points()) <= before:
                await check_once()
        assert account.trust.state.status is TrustStatus.OK
        # The approval's certificate, valid (loaded with each check).
        await eventually(lambda: page.certificates.counts()[CertificateStatus.VALID] == 1)
        sizes = [spot.pos().y() for spot in page.chain.points.points()]
        assert sizes == sorted(sizes)
        assert window.trust_banner.isHidden()

        # The newest entry's inclusion path, drawn up to the signed root.
        page.entry_index.setValue(page.entry_index.maximum())
        page.verify_button.click()
        await eventually(lambda: "is in the verified log" in page.verdict.text())
        assert page.path.nodes.points()[-1].brush().color().name() == MATCH_COLOUR
        assert errors == []


async def offline_account(tmp_path: Path) -> Account:
    """A remembered account whose server is down: the window opens, every check is offline."""
    paths = paths_for(tmp_path, "offline")
    credentials = credentials_for(paths)
    profile = Profile(
        server=f"http://127.0.0.1:{free_port()}",
        email="ada@acme.example.com",
        workspace="acme",
        role=Role.VIEWER,
    )
    credentials.remember(profile, "remembered-token")
    account = await Account.resume(paths=paths, credentials=credentials, timing=FAST)
    assert account is not None
    return account


def head(size: int, root: str) -> TreeHead:
    return TreeHead(size=size, root_hash=root, checkpoint="", published_at=datetime.now(UTC))


async def test_a_fork_shows_a_red_banner_that_stays_and_leads_to_the_evidence(
    tmp_path: Path, qtbot: QtBot
) -> None:
    account = await offline_account(tmp_path)
    try:
        # A forged state, as a previous run would have left it on disk.
        await account.trust.close()
        path = tmp_path / "forged-trust.sqlite3"
        store = await TrustStore.open(path)
        kept = head(3, "A" * 43 + "=")
        await store.keep(kept)
        reason = "Two different roots for the same 3 entries"
        await store.raise_alarm(
            Fork(reason=reason, detected_at=datetime.now(UTC), kept=kept, served=head(3, "B" * 43 + "="))
        )
        await store.close()
        account.trust = await TrustMonitor.open(account.api, path)

        async with window_of(account) as (window, errors):
            banner = window.trust_banner
            assert banner.isVisible()
            assert reason in banner.message.text()
            assert pixel_colour(banner, 2, 2) == ALARM_COLOUR
            # Nothing on it closes it, and neither does Escape or the periodic check (offline).
            assert [b.text() for b in banner.findChildren(QPushButton)] == ["Show the e&vidence"]
            QTest.keyClick(window, Qt.Key.Key_Escape)
            await eventually(lambda: account.trust.state.checked_at is not None)
            assert account.trust.state.status is TrustStatus.FORK
            assert banner.isVisible()

            banner.details.click()
            page = window.trust_log
            assert page is not None
            assert window.pages.currentWidget() is page
            assert page.status.text() == f"FORK: {reason}"
            assert page.chain.alarm.isVisible()
            assert [s.brush().color().name() for s in page.chain.alarm_point.points()] == [ALARM_COLOUR]
            assert len(page.chain.points.points()) == 1
            assert errors == []
    finally:
        await account.close()
