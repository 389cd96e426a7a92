"""The trust log in the window: a view of what the trust monitor verified (the chain of tree
heads, an entry's inclusion path, certificates) and the banner that shouts when it finds a fork.

Both follow the account's `TrustMonitor` (engine/trust_monitor.py); its checks run as background
work (`Tasks`), never in a slot, so the window does not wait on the network.
"""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from justmaily.desktop.engine.errors import DesktopError
from justmaily.desktop.engine.trust_monitor import TrustMonitor, TrustState, TrustStatus
from justmaily.desktop.ui.tasks import Tasks
from justmaily.visualizations.plot_view import MUTED_COLOUR
from justmaily.visualizations.trust_log import (
    ALARM_COLOUR,
    MATCH_COLOUR,
    CertificateStatuses,
    InclusionPath,
    TreeHeadChain,
)

_STATUS_COLOURS = {
    TrustStatus.OK: MATCH_COLOUR,
    TrustStatus.UNCHECKED: MUTED_COLOUR,
    TrustStatus.FORK: ALARM_COLOUR,
}


def follow(widget: QWidget, monitor: TrustMonitor, refresh: Callable[[], None]) -> None:
    """Call `refresh` after every check for as long as `widget` lives."""

    def listener() -> None:
        # The monitor outlives windows (it belongs to the account): a check that ends after the
        # widget went must not touch it.
        if shiboken6.isValid(widget):
            refresh()

    unsubscribe = monitor.subscribe(listener)
    widget.destroyed.connect(lambda *_: unsubscribe())


def describe(state: TrustState) -> str:
    when = f" (checked {state.checked_at.astimezone():%H:%M:%S})" if state.checked_at else ""
    if state.status is TrustStatus.FORK:
        return f"FORK: {state.reason}"
    if state.status is TrustStatus.OK:
        return f"Consistent: {state.reason}{when}"
    return f"Not verified: {state.reason}{when}"


class TrustBanner(QFrame):
    """Red, across the top of the main window, for as long as the monitor reports a fork. It has
    no close button: a fork must not be dismissed by accident, and it
    stays (on disk too) until someone deliberately clears it in the engine."""

    details_requested = Signal()

    def __init__(self, monitor: TrustMonitor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.monitor = monitor
        self.setObjectName("trust-banner")
        self.setAccessibleName("Transparency log warning")
        self.setStyleSheet(
            f"#trust-banner {{ background: {ALARM_COLOUR}; }} #trust-banner QLabel {{ color: white; }}"
        )
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QPushButton("Show the e&vidence")
        self.details.clicked.connect(lambda _=False: self.details_requested.emit())
        layout = QHBoxLayout(self)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.details)
        follow(self, monitor, self.refresh)
        self.refresh()

    def refresh(self) -> None:
        state = self.monitor.state
        forked = state.status is TrustStatus.FORK
        self.message.setText(
            "<b>This server's transparency log is not consistent with what this app verified "
            f"before.</b> {state.reason}. Approvals and sends it reports cannot be trusted until an "
            "administrator has investigated."
            if forked
            else ""
        )
        self.setVisible(forked)


class TrustLogPage(QWidget):
    """The log as this app verified it: its state, the chain of tree heads, an entry's
    inclusion path, and the certificates' statuses."""

    def __init__(self, monitor: TrustMonitor, tasks: Tasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.monitor = monitor
        self.tasks = tasks
        self.status = QLabel()
        self.status.setObjectName("trust-status")
        self.status.setWordWrap(True)
        self.check_button = QPushButton("&Check now")
        self.check_button.clicked.connect(lambda _=False: self.check_now())
        self.chain = TreeHeadChain()
        self.entry_index = QSpinBox()
        self.entry_index.setAccessibleName("Entry number")
        self.entry_index.setPrefix("Entry ")
        self.verify_button = QPushButton("&Verify inclusion")
        self.verify_button.clicked.connect(lambda _=False: self.verify())
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.path = InclusionPath()
        self.certificates = CertificateStatuses()

        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.check_button)
        entry = QHBoxLayout()
        entry.addWidget(self.entry_index)
        entry.addWidget(self.verify_button)
        entry.addWidget(self.verdict, 1)
        lower = QSplitter()
        lower.addWidget(self.path)
        lower.addWidget(self.certificates)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.chain, 3)
        layout.addLayout(entry)
        layout.addWidget(lower, 2)
        follow(self, monitor, self.refresh)
        self.refresh()
        self.tasks.spawn(self.load_certificates)

    def refresh(self) -> None:
        state = self.monitor.state
        self.status.setText(describe(state))
        self.status.setStyleSheet(f"color: {_STATUS_COLOURS[state.status]}; font-weight: bold;")
        fork = state.fork
        self.chain.show_chain(
            self.monitor.heads,
            alarm=fork.reason if fork is not None else "",
            alarm_head=fork.served if fork is not None else None,
        )
        latest = self.monitor.latest
        self.entry_index.setMaximum(max((latest.size if latest is not None else 0) - 1, 0))
        self.verify_button.setEnabled(latest is not None and latest.size > 0)

    def check_now(self) -> None:
        self.tasks.spawn(self.monitor.check, owner=self)
        self.tasks.spawn(self.load_certificates)

    async def load_certificates(self) -> None:
        """The certificates' statuses as the server reports them (the view can verify one offline
        with shared/verify/certificates.py; the server's word is what this plot shows)."""
        try:
            found = await self.monitor.certificates()
        except DesktopError as exc:  # offline or refused: the plot says so, no pop-up
            self.certificates.show_certificates([])
            self.certificates.empty.setText(f"Certificates not loaded: {exc}")
            return
        self.certificates.show_certificates(found)

    def verify(self) -> None:
        self.tasks.spawn(self._verify, self.entry_index.value())

    async def _verify(self, index: int) -> None:
        self.verdict.setText(f"Verifying entry {index}…")
        result = await self.monitor.verify_entry(index)
        if result.entry is not None and result.proof is not None and result.head is not None:
            self.path.show_path(result.entry, result.proof, result.head)
        else:
            self.path.clear(result.verdict.reason)
        ok = result.verdict.ok
        kind = f" ({result.entry.kind.value})" if result.entry is not None else ""
        self.verdict.setText(
            f"Entry {index}{kind} is in the verified log" if ok else f"Entry {index}: {result.verdict.reason}"
        )
        self.verdict.setStyleSheet(f"color: {MATCH_COLOUR if ok else ALARM_COLOUR};")
