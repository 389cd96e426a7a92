"""The main window: navigation between views (campaigns, the trust log; other admin views register
themselves), the campaign browser, a tab per open campaign, and the trust log's fork banner."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from justmaily.desktop.engine.account import Account
from justmaily.desktop.engine.trust_monitor import CHECK_EVERY
from justmaily.desktop.ui.editor import CampaignEditor
from justmaily.desktop.ui.tasks import Job, Tasks
from justmaily.desktop.ui.trust_log import TrustBanner, TrustLogPage
from justmaily.shared.campaigns import Campaign, CampaignStatus
from justmaily.shared.roles import Permission


@dataclass(frozen=True)
class View:
    """An entry of the navigation: the trust log, mesh, analytics and performance views add theirs."""

    title: str
    build: Callable[[Account, Tasks], QWidget]
    permission: Permission | None = None


EXTRA_VIEWS: list[View] = []


def register_view(view: View) -> None:
    EXTRA_VIEWS.append(view)


class CampaignsPage(QWidget):
    open_requested = Signal(object)  # Campaign

    def __init__(self, account: Account, tasks: Tasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.account = account
        self.tasks = tasks
        self.campaigns: list[Campaign] = []
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name or subject (Ctrl+F)")
        self.search.setAccessibleName("Search campaigns")
        self.search.setClearButtonEnabled(True)
        self.status = QComboBox()
        self.status.setAccessibleName("Status filter")
        self.status.addItem("All statuses", None)
        for status in CampaignStatus:
            self.status.addItem(status.value.replace("_", " ").capitalize(), status)
        self.archived = QCheckBox("Archived")
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("campaign-table")
        self.table.setAccessibleName("Campaigns")
        self.table.setHorizontalHeaderLabels(["Name", "Subject", "Status"])
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 240)
        self.table.setColumnWidth(1, 320)
        self.table.activated.connect(lambda _index: self._open_selected())
        self.notice = QLabel()
        self.notice.setObjectName("campaigns-notice")
        may_write = account.may(Permission.CAMPAIGNS_WRITE)
        self.new_button = self._button("&New", "Ctrl+N", self._new, enabled=may_write)
        self.duplicate_button = self._button("&Duplicate", "Ctrl+D", self._duplicate, enabled=may_write)
        self.archive_button = self._button(
            "&Archive / restore", "Ctrl+Shift+A", self._archive, enabled=may_write
        )
        self.open_button = self._button("&Open", "Ctrl+O", self._open_selected)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.status)
        filters.addWidget(self.archived)
        actions = QHBoxLayout()
        for button in (self.open_button, self.new_button, self.duplicate_button, self.archive_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.notice)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addLayout(actions)
        layout.addWidget(self.table, 1)
        self._follow_filters()

    def _follow_filters(self) -> None:
        # One request when typing pauses, not one per keystroke; Enter searches at once.
        self._search_pause = QTimer(self)
        self._search_pause.setSingleShot(True)
        self._search_pause.setInterval(250)
        self._search_pause.timeout.connect(self.reload)
        self.search.textChanged.connect(lambda _text: self._search_pause.start())
        self.search.returnPressed.connect(self._search_now)
        self.status.currentIndexChanged.connect(lambda _index: self.reload())
        self.archived.toggled.connect(lambda _on: self.reload())

    def _button(
        self, label: str, shortcut: str, slot: Callable[[], object], *, enabled: bool = True
    ) -> QPushButton:
        button = QPushButton(label)
        button.setShortcut(QKeySequence(shortcut))
        button.setToolTip(shortcut)
        button.setEnabled(enabled)
        button.clicked.connect(lambda _=False: slot())
        return button

    def reload(self) -> None:
        self.tasks.spawn(self.load)

    def _search_now(self) -> None:
        self._search_pause.stop()
        self.reload()

    async def load(self) -> None:
        found, live = await self.account.campaigns(
            search=self.search.text().strip(),
            status=self.status.currentData(),
            archived=self.archived.isChecked(),
        )
        self.show_campaigns(found)
        self.notice.setText("" if live else "Offline: showing the campaigns kept on this computer")

    def show_campaigns(self, campaigns: list[Campaign]) -> None:
        self.campaigns = campaigns
        self.table.setRowCount(len(campaigns))
        for row, campaign in enumerate(campaigns):
            for column, value in enumerate(
                (campaign.name, campaign.subject, campaign.status.value.replace("_", " "))
            ):
                self.table.setItem(row, column, QTableWidgetItem(value))
        if campaigns and self.table.currentRow() < 0:
            self.table.selectRow(0)

    def selected(self) -> Campaign | None:
        row = self.table.currentRow()
        return self.campaigns[row] if 0 <= row < len(self.campaigns) else None

    def _open_selected(self) -> None:
        campaign = self.selected()
        if campaign is not None:
            self.open_requested.emit(campaign)

    def _new(self) -> None:
        name, ok = QInputDialog.getText(self, "New campaign", "Name:")
        if ok and name.strip():
            self.tasks.spawn(self._create, name.strip())

    async def _create(self, name: str) -> None:
        campaign = await self.account.create(name)
        await self.load()
        self.open_requested.emit(campaign)

    def _duplicate(self) -> None:
        campaign = self.selected()
        if campaign is not None:
            self.tasks.spawn(self._copy, campaign)

    async def _copy(self, campaign: Campaign) -> None:
        await self.account.duplicate(campaign)
        await self.load()

    def _archive(self) -> None:
        campaign = self.selected()
        if campaign is not None:
            self.tasks.spawn(self._toggle_archived, campaign)

    async def _toggle_archived(self, campaign: Campaign) -> None:
        await self.account.set_archived(campaign, archived=campaign.archived_at is None)
        await self.load()


class MainWindow(QMainWindow):
    closed = Signal()  # the user closed the window (Quit, or the window's close button)

    def __init__(
        self, account: Account, tasks: Tasks, on_sign_out: Callable[[str | None], None] | None = None
    ) -> None:
        super().__init__()
        self.account = account
        self.tasks = tasks
        self._on_sign_out = on_sign_out
        self._sync_scopes: dict[uuid.UUID, Job] = {}
        session = account.session
        self.setWindowTitle(f"JustMaily — {session.workspace} ({session.email})")
        self.resize(1280, 800)
        self.campaigns = CampaignsPage(account, tasks)
        self.campaigns.open_requested.connect(self.open_campaign)
        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.addTab(self.campaigns, "Campaigns")
        self.tabs.tabBar().setTabButton(0, self.tabs.tabBar().ButtonPosition.RightSide, None)

        self.navigation = QListWidget()
        self.navigation.setAccessibleName("Navigation")
        self.navigation.setMaximumWidth(180)
        self.pages = QStackedWidget()
        self._add_view("Campaigns", self.tabs)
        self.trust_log: TrustLogPage | None = None
        if account.may(Permission.CAMPAIGNS_READ):
            self.trust_log = TrustLogPage(account.trust, tasks)
            self._add_view("Trust log", self.trust_log)
        for view in EXTRA_VIEWS:
            if view.permission is None or account.may(view.permission):
                self._add_view(view.title, view.build(account, tasks))
        self.navigation.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.navigation.setCurrentRow(0)

        splitter = QSplitter()
        splitter.addWidget(self.navigation)
        splitter.addWidget(self.pages)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([180, 1100])
        self.trust_banner = TrustBanner(account.trust)
        self.trust_banner.details_requested.connect(self.show_trust_log)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.trust_banner)
        column.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage(f"Signed in as {session.display_name} · role {session.role}")
        self._actions()
        self.campaigns.reload()
        # At start and every minute; the banner and the trust log follow the monitor's state.
        self._trust_checks = tasks.spawn(account.trust.run, CHECK_EVERY, owner=self)

    def _add_view(self, title: str, widget: QWidget) -> None:
        self.navigation.addItem(title)
        self.pages.addWidget(widget)

    def show_trust_log(self) -> None:
        if self.trust_log is not None:
            self.navigation.setCurrentRow(self.pages.indexOf(self.trust_log))

    def _actions(self) -> None:
        menu = self.menuBar().addMenu("&File")
        for label, shortcut, slot in (
            ("&Find campaigns", "Ctrl+F", self._focus_search),
            ("&Refresh", "F5", self.campaigns.reload),
            ("&Close campaign", "Ctrl+W", lambda: self.close_tab(self.tabs.currentIndex())),
            ("Sign &out", "", self._sign_out),
            ("&Quit", "Ctrl+Q", self.close),
        ):
            action = QAction(label, self)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(lambda _=False, s=slot: s())
            menu.addAction(action)
        others = [w for w in self.account.session.workspaces if w != self.account.session.workspace]
        if others:
            switch = menu.addMenu("S&witch workspace")
            for slug in others:
                action = QAction(slug, self)
                action.triggered.connect(lambda _=False, w=slug: self._sign_out(w))
                switch.addAction(action)

    def _focus_search(self) -> None:
        self.navigation.setCurrentRow(0)
        self.tabs.setCurrentIndex(0)
        self.campaigns.search.setFocus()
        self.campaigns.search.selectAll()

    # Campaign tabs ---------------------------------------------------------------------------

    def editor(self, campaign_id: uuid.UUID) -> CampaignEditor | None:
        for index in range(1, self.tabs.count()):
            widget = self.tabs.widget(index)
            if isinstance(widget, CampaignEditor) and widget.campaign.id == campaign_id:
                return widget
        return None

    def open_campaign(self, campaign: Campaign) -> None:
        existing = self.editor(campaign.id)
        if existing is not None:
            self.tabs.setCurrentWidget(existing)
            return
        self.tasks.spawn(self._open, campaign)

    async def _open(self, campaign: Campaign) -> None:
        opened = await self.account.open_campaign(campaign)
        existing = self.editor(campaign.id)
        if existing is not None:  # opened twice at once: one tab, one sync
            opened.close()
            self.tabs.setCurrentWidget(existing)
            return
        editor = CampaignEditor(opened, self.tasks)
        editor.campaign_changed.connect(lambda _c: self.campaigns.reload())
        self.tabs.addTab(editor, campaign.name)
        self.tabs.setCurrentWidget(editor)
        self._sync_scopes[campaign.id] = self.tasks.spawn(opened.sync.run)
        self.tasks.spawn(opened.refresh)
        self.tasks.spawn(opened.load_versions)
        editor.fields["body"].setFocus()

    def close_tab(self, index: int) -> None:
        widget = self.tabs.widget(index)
        if not isinstance(widget, CampaignEditor):
            return
        self.tabs.removeTab(index)
        widget.close_editor()
        scope = self._sync_scopes.pop(widget.campaign.id, None)
        if scope is not None:
            scope.cancel()
        self.tasks.spawn(self.account.close_campaign, widget.campaign.id)
        widget.deleteLater()

    def _sign_out(self, workspace: str | None = None) -> None:
        """Sign out; with a workspace, the sign-in form that follows offers that one."""
        if self._on_sign_out is not None:
            self._on_sign_out(workspace)

    def shut_down(self) -> None:
        """Stop the window's background work and let go of the open campaigns' documents."""
        while self.tabs.count() > 1:
            self.close_tab(1)
        self._trust_checks.cancel()
        for scope in self._sync_scopes.values():
            scope.cancel()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self._trust_checks.cancel()
        for scope in self._sync_scopes.values():
            scope.cancel()
        super().closeEvent(event)
        self.closed.emit()
