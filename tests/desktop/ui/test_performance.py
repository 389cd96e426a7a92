"""The Performance view against a real server process: owners and admins only, polling while it
is shown and never while hidden, the server's numbers moving with its traffic, and a notice
when the server is gone."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from justmaily.desktop.ui.main_window import MainWindow
from justmaily.desktop.ui.performance import NEEDS_THE_SERVER, PerformancePage
from justmaily.shared.roles import Role
from tests.desktop.ui.test_trust_log import window_of
from tests.plugins.desktop import Desktops
from tests.plugins.live_server import Live
from tests.support.polling import eventually

pytestmark = pytest.mark.backends("sqlite")

QUICK = 0.1  # seconds between polls in these tests (5 s in the app)


def performance_page(window: MainWindow) -> PerformancePage | None:
    for index in range(window.pages.count()):
        page = window.pages.widget(index)
        if isinstance(page, PerformancePage):
            assert window.navigation.item(index).text() == "Performance"
            return page
    return None


def requests_to(page: PerformancePage, method: str, route: str) -> int:
    latest = page.dashboard.history.latest
    if latest is None:
        return -1
    return next((r.requests for r in latest.routes if (r.method, r.route) == (method, route)), 0)


async def test_only_owners_and_admins_have_the_view(live: Live, desktops: Desktops, qtbot: QtBot) -> None:
    for role, shown in ((Role.OWNER, True), (Role.ADMIN, True), (Role.EDITOR, False), (Role.VIEWER, False)):
        account = await desktops.sign_in(role)
        async with window_of(account) as (window, errors):
            assert (performance_page(window) is not None) is shown, role
            assert errors == []


async def test_the_view_polls_while_shown_and_follows_the_traffic(
    live: Live, desktops: Desktops, qtbot: QtBot
) -> None:
    account = await desktops.sign_in(Role.ADMIN)
    async with window_of(account) as (window, errors):
        page = performance_page(window)
        assert page is not None
        page.every = QUICK
        assert page.polling is None  # another view is shown: nothing is asked
        assert page.readings == 0
        window.navigation.setCurrentRow(window.pages.indexOf(page))
        await eventually(lambda: page.dashboard.history.latest is not None)
        before = requests_to(page, "GET", "/api/campaigns")
        for _ in range(3):
            listed = await live.call("GET", "/api/campaigns", live.team[Role.VIEWER])
            assert listed.status_code == 200
        await eventually(lambda: requests_to(page, "GET", "/api/campaigns") >= before + 3)
        await eventually(lambda: not page.dashboard.throughput.is_empty())
        assert page.notice.isHidden()
        assert "availability" in [name for name, _budget, _colour in page.dashboard.budgets.rows]
        assert page.dashboard.route.findText("GET /api/campaigns") >= 0
        assert errors == []

        # Another view: the polling stops (settle waits until the cancelled poll has ended).
        window.navigation.setCurrentRow(0)
        assert page.polling is None
        await window.tasks.settle()
        seen = page.readings
        await window.tasks.settle()
        assert page.readings == seen

        # Back, with the server gone: the page says it needs it.
        live.server.stop()
        window.navigation.setCurrentRow(window.pages.indexOf(page))
        await eventually(page.notice.isVisible)
        assert page.notice.text().startswith(f"{NEEDS_THE_SERVER}: Cannot reach {live.url}")
        assert page.dashboard.history.latest is not None  # what it had shown stays
        assert errors == []
