"""The campaign editor: the document's texts and, around them, panels that each follow one part
of an `OpenCampaign` and change it through it: the review bar, the live preview, comments,
versions and the presence bar. The editor lays them out, binds the texts and asks before an
edit that voids a review."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QMessageBox, QSplitter, QTabWidget, QVBoxLayout, QWidget

from justmaily.desktop.engine.campaign import OpenCampaign
from justmaily.desktop.engine.presence import Peer
from justmaily.desktop.engine.sync import CampaignSync
from justmaily.desktop.ui.comments_panel import CommentsPanel
from justmaily.desktop.ui.presence_bar import PresenceBar
from justmaily.desktop.ui.preview import Preview
from justmaily.desktop.ui.review_bar import ReviewBar
from justmaily.desktop.ui.tasks import Tasks
from justmaily.desktop.ui.text_binding import CollabTextEdit
from justmaily.desktop.ui.versions_panel import VersionsPanel
from justmaily.shared.campaigns import Campaign
from justmaily.shared.collaboration import BODY, SUBJECT_VARIANTS

FIELD_ORDER = ("sender", "subject", SUBJECT_VARIANTS, "preheader", BODY)


class CampaignEditor(QWidget):
    campaign_changed = Signal(object)  # the Campaign, when its row changed (a review action, …)

    def __init__(self, model: OpenCampaign, tasks: Tasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.tasks = tasks
        self.setObjectName(f"editor-{model.id}")
        self.fields = {
            name: CollabTextEdit(name, single_line=name not in (BODY, SUBJECT_VARIANTS))
            for name in FIELD_ORDER
        }
        _shape_variants(self.fields[SUBJECT_VARIANTS])
        self.review_bar = ReviewBar(model, tasks)
        self.preview = Preview(model)
        self.comments = CommentsPanel(model, tasks, body=self.fields[BODY])
        self.versions = VersionsPanel(model, tasks, confirm_edit=self._confirm_edit)
        self.presence_bar = PresenceBar(model)
        self._consent_box: QMessageBox | None = None
        self._shown_peers: list[Peer] | None = None
        self._build()
        for widget in self.fields.values():
            widget.bind(model)
            widget.confirm_edit = self._confirm_edit
        self._unsubscribe = [
            model.events.status.subscribe(self._follow_role),
            model.events.peers.subscribe(self._show_carets),
            model.events.campaign.subscribe(lambda: self.campaign_changed.emit(model.campaign)),
        ]
        self._follow_role()
        self._show_carets()

    @property
    def campaign(self) -> Campaign:
        """The campaign as its row says now."""
        return self.model.campaign

    @property
    def sync(self) -> CampaignSync:
        return self.model.sync

    def _build(self) -> None:
        form = QFormLayout()
        captions = {"sender": "&Sender", "subject": "S&ubject", SUBJECT_VARIANTS: "&A/B subjects"}
        for name in ("sender", "subject", SUBJECT_VARIANTS, "preheader"):
            caption = QLabel(captions.get(name, f"&{name.capitalize()}"))
            caption.setBuddy(self.fields[name])
            form.addRow(caption, self.fields[name])

        side = QTabWidget()
        side.addTab(self.comments, "Comments")
        side.addTab(self.versions, "Versions")

        splitter = QSplitter()
        splitter.addWidget(self.fields[BODY])
        splitter.addWidget(self.preview)
        splitter.addWidget(side)
        splitter.setSizes([420, 380, 260])
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 2)

        layout = QVBoxLayout(self)
        layout.addWidget(self.review_bar)
        layout.addLayout(form)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.presence_bar)
        for before, after in itertools.pairwise(FIELD_ORDER):
            self.setTabOrder(self.fields[before], self.fields[after])

    def _follow_role(self) -> None:
        """The texts are read-only for a role that may not edit (which can change while open)."""
        read_only = not self.model.can_edit
        for widget in self.fields.values():
            if widget.isReadOnly() != read_only:
                widget.setReadOnly(read_only)

    def _show_carets(self) -> None:
        peers = self.model.peers()
        if peers == self._shown_peers:
            return
        self._shown_peers = peers
        for widget in self.fields.values():
            widget.show_peers(peers)

    def _confirm_edit(self, make: Callable[[], None]) -> bool:
        """Before the first edit of a campaign under review: ask (without blocking), and make the
        edit only if the user agrees."""
        status = self.model.campaign.status
        question = self.model.edit_question()
        if question is None:
            return True
        if self._consent_box is None:
            box = QMessageBox(
                QMessageBox.Icon.Question,
                "Edit this campaign?",
                question,
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                self,
            )
            box.setObjectName("edit-consent")
            box.button(QMessageBox.StandardButton.Yes).setText("Edit anyway")
            box.button(QMessageBox.StandardButton.No).setText("Keep it as it is")
            box.setDefaultButton(QMessageBox.StandardButton.No)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

            def answered(result: int) -> None:
                self._consent_box = None
                if result == QMessageBox.StandardButton.Yes:
                    self.model.agree_to_edit(status)
                    make()

            box.finished.connect(answered)
            self._consent_box = box
            box.open()
        return False

    def close_editor(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self.review_bar.close_bar()
        self.preview.close_preview()
        self.comments.close_panel()
        self.versions.close_panel()
        self.presence_bar.close_bar()
        for widget in self.fields.values():
            widget.unbind()
        self.model.close()


def _shape_variants(variants: CollabTextEdit) -> None:
    variants.setPlaceholderText("Other subject lines to A/B test, one per line (optional)")
    variants.setFixedHeight(3 * variants.fontMetrics().lineSpacing() + 16)
