"""The Performance view, for owners and admins: the server's latency, throughput, errors, error
budgets and health tiles (`visualizations.performance`), read every 5 s while the view is shown.

Polling runs only while the page is visible (another view chosen, or the window hidden, stops
it), so nobody's server is asked for numbers no one looks at. Nothing is kept offline: without
the server the page says it needs it."""

from __future__ import annotations

from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from justmaily.desktop.engine.account import Account
from justmaily.desktop.engine.performance import POLL_EVERY, PerformanceFeed, PerformanceReading
from justmaily.desktop.ui.main_window import View, register_view
from justmaily.desktop.ui.tasks import Job, Tasks
from justmaily.shared.roles import Permission
from justmaily.visualizations.performance import ALARM_COLOUR, PerformanceDashboard
from justmaily.visualizations.plot_view import MUTED_COLOUR

NEEDS_THE_SERVER = "The performance view needs the server"


class PerformancePage(QWidget):
    def __init__(
        self, feed: PerformanceFeed, tasks: Tasks, *, every: float = POLL_EVERY, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("performance-page")
        self.feed = feed
        self.tasks = tasks
        self.every = every
        self.polling: Job | None = None
        self.readings = 0  # how many answers (or failures) the page has shown
        self.notice = QLabel()
        self.notice.setObjectName("performance-notice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.dashboard = PerformanceDashboard()
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addWidget(self.dashboard, 1)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self.polling is None:
            self.polling = self.tasks.spawn(self.feed.run, self.show_reading, self.every, owner=self)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt's name
        super().hideEvent(event)
        if self.polling is not None:
            self.polling.cancel()
            self.polling = None

    def show_reading(self, reading: PerformanceReading) -> None:
        self.readings += 1
        if reading.error is not None:
            headline = NEEDS_THE_SERVER if reading.offline else "The server did not give its numbers"
            self.notice.setText(f"{headline}: {reading.error}")
            self.notice.setStyleSheet(f"color: {MUTED_COLOUR if reading.offline else ALARM_COLOUR};")
            self.notice.show()
            return
        self.notice.hide()
        if reading.snapshot is not None:
            self.dashboard.add_snapshot(reading.snapshot)
        self.dashboard.show_slo(reading.slo)


def build(account: Account, tasks: Tasks) -> QWidget:
    return PerformancePage(PerformanceFeed(account.api), tasks)


register_view(View("Performance", build, Permission.OPERATIONS_READ))
