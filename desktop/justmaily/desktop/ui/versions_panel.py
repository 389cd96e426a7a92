"""The campaign's versions: named ones and those sent to review, each compared with now, saved
and restored (a restore is an edit: it asks first, as typing does)."""

from __future__ import annotations

import difflib
import html
from collections.abc import Callable

from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from justmaily.desktop.engine.campaign import OpenCampaign
from justmaily.desktop.ui.tasks import Tasks
from justmaily.shared.collaboration import TEXT_FIELDS, CampaignContent, Version
from justmaily.shared.roles import Permission


class VersionsPanel(QWidget):
    def __init__(
        self,
        campaign: OpenCampaign,
        tasks: Tasks,
        confirm_edit: Callable[[Callable[[], None]], bool],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.campaign = campaign
        self.tasks = tasks
        self.confirm_edit = confirm_edit  # asks before an edit that voids a review (the editor's)
        self.list = QListWidget()
        self.list.setAccessibleName("Versions")
        self.comparison = QTextBrowser()
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(lambda: self.tasks.spawn(self.campaign.load_versions))
        save = QPushButton("Save version…")
        save.clicked.connect(self._save_version)
        restore = QPushButton("Restore")
        restore.setObjectName("version-restore")
        restore.clicked.connect(self.restore_selected)
        may_write = campaign.may(Permission.CAMPAIGNS_WRITE)
        save.setEnabled(may_write)
        restore.setEnabled(may_write)
        self.list.currentRowChanged.connect(lambda _row: self.tasks.spawn(self._compare_selected))
        buttons = QHBoxLayout()
        for button in (refresh, save, restore):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.list, 1)
        layout.addWidget(QLabel("Compared with now (- version, + now):"))
        layout.addWidget(self.comparison, 2)
        self._shown: list[Version] = []
        self._unsubscribe = campaign.events.versions.subscribe(self._show_versions)
        self._show_versions()

    def _show_versions(self) -> None:
        self._shown = list(self.campaign.versions)
        self.list.clear()
        for version in self._shown:  # items hold plain text: PySide6 mishandles Python objects in them
            self.list.addItem(f"{version.name} — {version.kind}, {version.created_at:%Y-%m-%d %H:%M}")

    def selected(self) -> Version | None:
        row = self.list.currentRow()
        return self._shown[row] if 0 <= row < len(self._shown) else None

    async def _compare_selected(self) -> None:
        version = self.selected()
        if version is None:
            return
        content = await self.campaign.version_content(version)
        self.comparison.setHtml(compare_html(content, self.campaign.texts()))

    def _save_version(self) -> None:
        name, ok = QInputDialog.getText(self, "Save version", "Name this version:")
        if ok and name.strip():
            self.tasks.spawn(self.campaign.create_version, name.strip())

    def restore_selected(self) -> None:
        version = self.selected()
        if version is None:
            return

        def restore() -> None:
            self.tasks.spawn(self.campaign.restore, version.id)

        if self.confirm_edit(restore):  # a restore is an edit: it too voids a review
            restore()

    def close_panel(self) -> None:
        self._unsubscribe()


def compare_html(version: CampaignContent, now: dict[str, str]) -> str:
    """A line diff per text, as coloured HTML."""
    parts = []
    for name in TEXT_FIELDS:
        before, after = getattr(version, name).splitlines(), now[name].splitlines()
        if before == after:
            continue
        parts.append(f"<h4>{name.capitalize()}</h4><pre>")
        for line in difflib.unified_diff(before, after, lineterm="", n=1):
            if line.startswith(("---", "+++", "@@")):
                continue
            colour = {"+": "#166534", "-": "#991b1b"}.get(line[:1], "#374151")
            parts.append(f'<span style="color:{colour}">{html.escape(line)}</span>')
        parts.append("</pre>")
    return "\n".join(parts) or "<p>No differences.</p>"
