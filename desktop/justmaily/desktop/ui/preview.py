"""The live preview: the e-mail as it will be sent (the renderer sending uses), with the inbox
line above it; it follows the texts a beat later, once per burst of typing."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

from justmaily.desktop.engine.campaign import OpenCampaign
from justmaily.shared.document.rendering import render_html


class Preview(QWidget):
    def __init__(self, campaign: OpenCampaign, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.campaign = campaign
        self.inbox_line = QLabel()
        self.inbox_line.setAccessibleName("Inbox line")
        self.inbox_line.setTextFormat(Qt.TextFormat.RichText)
        self.inbox_line.setWordWrap(True)
        self.browser = QTextBrowser()
        self.browser.setAccessibleName("Preview")
        self.browser.setOpenLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.inbox_line)
        layout.addWidget(self.browser, 1)
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(120)
        self._pause.timeout.connect(self.show_texts)
        self._unsubscribe = campaign.events.texts.subscribe(self._pause.start)
        self.show_texts()

    def show_texts(self) -> None:
        values = self.campaign.texts()
        scroll = self.browser.verticalScrollBar().value()
        # The inbox line above the message: Qt's HTML ignores `display:none`, so the preheader,
        # hidden in the sent HTML, would otherwise show as body text.
        self.inbox_line.setText(
            f"<b>{html.escape(values['subject'])}</b>"
            f" — <span style='color:#6b7280'>{html.escape(values['preheader'])}</span>"
        )
        self.browser.setHtml(render_html(subject=values["subject"], preheader="", body=values["body"]))
        self.browser.verticalScrollBar().setValue(scroll)

    def close_preview(self) -> None:
        self._unsubscribe()
        self._pause.stop()
