"""The editor's header: the campaign's name and status, the review buttons the role may use, and
a reviewer's reason for sending it back."""

from __future__ import annotations

import html

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QInputDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from justmaily.desktop.engine.campaign import OpenCampaign
from justmaily.desktop.ui.tasks import Tasks
from justmaily.shared.campaigns import CampaignAction, CampaignStatus

BUTTON_TEXT = {
    CampaignAction.SUBMIT: "Request review",
    CampaignAction.WITHDRAW: "Withdraw from review",
    CampaignAction.APPROVE: "Approve",
    CampaignAction.SEND_BACK: "Send back",
}


class ReviewBar(QWidget):
    def __init__(self, campaign: OpenCampaign, tasks: Tasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.campaign = campaign
        self.tasks = tasks
        title = QLabel(f"<h2>{html.escape(campaign.campaign.name)}</h2>")
        self.status_label = QLabel()
        self.status_label.setObjectName("campaign-status")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addWidget(self.status_label)
        header.addStretch(1)
        self.buttons: dict[CampaignAction, QPushButton] = {}
        for action in campaign.review_actions():  # they follow the role; the server enforces the same
            button = QPushButton(BUTTON_TEXT[action])
            button.setObjectName(f"review-{action.value}")
            button.clicked.connect(lambda _=False, a=action: self._review(a))
            header.addWidget(button)
            self.buttons[action] = button
        if CampaignAction.SUBMIT in self.buttons:
            self.buttons[CampaignAction.SUBMIT].setShortcut(QKeySequence("Ctrl+Shift+R"))
        self.sent_back = _notice("sent-back-reason")  # why a reviewer sent it back, for the editors
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.sent_back)
        self._unsubscribe = campaign.events.campaign.subscribe(self._show)
        self._show()

    def _show(self) -> None:
        campaign = self.campaign.campaign
        self.status_label.setText(f"Status: <b>{campaign.status.value.replace('_', ' ')}</b>")
        for action, button in self.buttons.items():
            button.setEnabled(self.campaign.allows(action))
        reason = campaign.sent_back_reason
        self.sent_back.setText(f"Sent back by the reviewer: {reason}" if reason else "")
        self.sent_back.setVisible(bool(reason) and campaign.status is CampaignStatus.DRAFT)

    def _review(self, action: CampaignAction) -> None:
        reason = ""
        if action is CampaignAction.SEND_BACK:
            reason, ok = QInputDialog.getMultiLineText(
                self, "Send back", "What should the editors change? (they see this)"
            )
            if not ok:
                return
        self.tasks.spawn(self.campaign.transition, action, reason)

    def close_bar(self) -> None:
        self._unsubscribe()


def _notice(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setStyleSheet("background: #fef3c7; color: #78350f; padding: 6px; border-radius: 4px;")
    label.hide()
    return label
