"""A plot, or instead of it a sentence saying why there is nothing to plot: the frame every view
of this package draws in, so an empty view says so in words instead of an empty pair of axes."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedLayout, QVBoxLayout, QWidget

MUTED_COLOUR = "#6b7280"


class PlotView(QWidget):
    def __init__(self, empty_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.empty = QLabel(empty_text)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet(f"color: {MUTED_COLOUR};")
        self._stack = QStackedLayout()
        self._stack.addWidget(self.empty)
        self._stack.addWidget(self.plot)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.addLayout(self._stack, 1)

    def is_empty(self) -> bool:
        return self._stack.currentWidget() is self.empty

    def _show_empty(self, empty: bool) -> None:
        self._stack.setCurrentWidget(self.empty if empty else self.plot)
