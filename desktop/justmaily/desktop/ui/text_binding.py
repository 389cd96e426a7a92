"""A text widget bound to one text of an open campaign's document, with others' carets drawn.

Local typing hands the widget's new text to the open campaign (`OpenCampaign.set_text`), which
turns it into the smallest edit of the document; remote edits are applied as the Yjs delta
through a separate QTextCursor, so Qt moves the user's own caret and selection with the text
around them instead of resetting them. Offsets: pycrdt counts UTF-8 bytes, Qt counts UTF-16
units, Python counts code points; Qt's and the document's are converted here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pycrdt import TextEvent
from PySide6.QtCore import QMimeData, QRect, Qt
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QFontMetrics,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QTextCursor,
)
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit, QWidget

from justmaily.desktop.engine.campaign import OpenCampaign
from justmaily.desktop.engine.errors import DesktopError
from justmaily.desktop.engine.presence import Peer
from justmaily.shared.document import changed_run


def byte_offset(text: str, utf16_position: int) -> int:
    """Qt position -> pycrdt offset."""
    prefix = text.encode("utf-16-le")[: 2 * utf16_position].decode("utf-16-le", errors="ignore")
    return len(prefix.encode())


def utf16_position(text: str, byte_offset: int) -> int:
    """pycrdt offset -> Qt position."""
    prefix = text.encode()[:byte_offset].decode(errors="ignore")
    return len(prefix.encode("utf-16-le")) // 2


class CollabTextEdit(QPlainTextEdit):
    """A plain-text editor for one of the document's texts; `single_line` for subject and friends."""

    def __init__(self, field: str, *, single_line: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = field
        self.single_line = single_line
        self.campaign: OpenCampaign | None = None
        self._shadow = ""  # what the widget shows, as the document last agreed
        self._applying = False  # a remote change is being shown: not a local edit
        self._editing = False  # a local edit is being written to the document
        self._peers: list[Peer] = []
        self._active = False  # the user is working here: our caret is worth showing to others
        # Asked before a local edit reaches the document, with a function that makes it: True to
        # make it now; False to hold it back (the widget shows the text as it was; the function
        # may be called later, once the user agreed).
        self.confirm_edit: Callable[[Callable[[], None]], bool] | None = None
        self.setUndoRedoEnabled(False)  # undo is the document's: only our own edits, not others'
        self.setTabChangesFocus(True)
        self.setAccessibleName(field.capitalize())
        if single_line:
            self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            metrics = QFontMetrics(self.font())
            self.setFixedHeight(metrics.lineSpacing() + 2 * int(self.document().documentMargin()) + 8)

    # Binding ---------------------------------------------------------------------------------

    def bind(self, campaign: OpenCampaign) -> None:
        self.campaign = campaign
        self._shared = campaign.shared(self.field)
        self._shadow = str(self._shared)
        self._applying = True
        self.setPlainText(self._shadow)
        self._applying = False
        self._subscription = self._shared.observe(self._on_remote)
        self.document().contentsChange.connect(self._on_local)
        self.cursorPositionChanged.connect(self._report_cursor)
        self.selectionChanged.connect(self._report_cursor)

    def unbind(self) -> None:
        if self.campaign is not None:
            self._shared.unobserve(self._subscription)
            self.document().contentsChange.disconnect(self._on_local)
            self.cursorPositionChanged.disconnect(self._report_cursor)
            self.selectionChanged.disconnect(self._report_cursor)
        self.campaign = None

    def shown_text(self) -> str:
        """The widget's text as typed. `toPlainText()` would turn no-break spaces into spaces and
        line separators into newlines, and the widget would no longer match the document."""
        return self.document().toRawText().replace("\u2029", "\n")

    def _restore(self) -> None:
        """Show what the document says (after an edit it refused)."""
        self._applying = True
        self.setPlainText(self._shadow)
        self._applying = False

    def _on_local(self, _position: int, _removed: int, _added: int) -> None:
        if self._applying or self.campaign is None:
            return
        new = self.shown_text()
        old = self._shadow
        if new == old:
            return
        if self.confirm_edit is not None and not self.confirm_edit(lambda: self._make_later(old, new)):
            self._take_back(old, new)
            return
        self._active = True
        self._editing = True
        try:
            self.campaign.set_text(self.field, new)
        except DesktopError:  # the role became read-only: the document did not change
            self._editing = False
            self._restore()
            return
        finally:
            self._editing = False
        self._shadow = new

    def _take_back(self, old: str, new: str) -> None:
        """Show `old` again where the widget shows its change to `new`, keeping the caret nearby."""
        start, old_end, new_end = changed_run(old, new)
        cursor = QTextCursor(self.document())
        cursor.setPosition(len(new[:start].encode("utf-16-le")) // 2)
        cursor.setPosition(len(new[:new_end].encode("utf-16-le")) // 2, QTextCursor.MoveMode.KeepAnchor)
        self._applying = True
        try:
            cursor.insertText(old[start:old_end])
        finally:
            self._applying = False
        if self.shown_text() != self._shadow:
            self._restore()

    def _make_later(self, then: str, new: str) -> None:
        """Make an edit held back by `confirm_edit`, if the text is still what it was then; the
        widget shows it as any change of the document (`_on_remote`)."""
        if self.campaign is None or self._shadow != then:
            return
        self._active = True
        try:
            self.campaign.set_text(self.field, new)
        except DesktopError:
            return
        _start, _old_end, new_end = changed_run(then, new)
        cursor = self.textCursor()
        cursor.setPosition(len(new[:new_end].encode("utf-16-le")) // 2)
        self.setTextCursor(cursor)

    def _on_remote(self, event: TextEvent) -> None:
        if self._editing:
            return
        delta: list[dict[str, Any]] = event.delta  # type: ignore[attr-defined]  # missing from pycrdt's stub
        cursor = QTextCursor(self.document())
        offset = 0  # bytes into the text as it is being rewritten
        self._applying = True
        try:
            for op in delta:
                if "retain" in op:
                    offset += int(op["retain"])
                elif "delete" in op:
                    start = utf16_position(self._shadow, offset)
                    end = utf16_position(self._shadow, offset + int(op["delete"]))
                    cursor.setPosition(start)
                    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
                    cursor.removeSelectedText()
                    raw = self._shadow.encode()
                    self._shadow = (raw[:offset] + raw[offset + int(op["delete"]) :]).decode()
                elif "insert" in op:
                    inserted = str(op["insert"])
                    cursor.setPosition(utf16_position(self._shadow, offset))
                    cursor.insertText(inserted)
                    raw = self._shadow.encode()
                    self._shadow = (raw[:offset] + inserted.encode() + raw[offset:]).decode()
                    offset += len(inserted.encode())
        finally:
            self._applying = False
        if self.shown_text() != self._shadow:  # never expected; the document wins
            self._restore()
        self.viewport().update()

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt's name
        super().focusInEvent(event)
        self._active = True
        self._report_cursor()

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt's name
        super().focusOutEvent(event)
        self._active = False

    def _report_cursor(self) -> None:
        if self.campaign is None or not self._active or self._applying:
            return
        cursor = self.textCursor()
        text = self.toPlainText()
        self.campaign.set_cursor(
            self.field, byte_offset(text, cursor.anchor()), byte_offset(text, cursor.position())
        )

    # Others' carets --------------------------------------------------------------------------

    def show_peers(self, peers: list[Peer]) -> None:
        self._peers = [p for p in peers if p.field == self.field and p.head is not None]
        selections = []
        for peer in self._peers:
            if peer.anchor is None or peer.head is None or peer.anchor == peer.head:
                continue
            selection = QTextEdit.ExtraSelection()
            colour = QColor(peer.colour)
            colour.setAlpha(70)
            selection.format.setBackground(colour)
            cursor = QTextCursor(self.document())
            cursor.setPosition(utf16_position(self._shadow, peer.anchor))
            cursor.setPosition(utf16_position(self._shadow, peer.head), QTextCursor.MoveMode.KeepAnchor)
            selection.cursor = cursor
            selections.append(selection)
        self.setExtraSelections(selections)
        self.viewport().update()

    def remote_carets(self) -> list[tuple[str, str, QRect]]:
        """(name, colour, caret rectangle in viewport coordinates) of each remote caret here."""
        carets = []
        for peer in self._peers:
            assert peer.head is not None
            cursor = QTextCursor(self.document())
            cursor.setPosition(min(utf16_position(self._shadow, peer.head), len(self.toPlainText())))
            carets.append((peer.name, peer.colour, self.cursorRect(cursor)))
        return carets

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        if not self._peers:
            return
        painter = QPainter(self.viewport())
        metrics = QFontMetrics(self.font())
        for name, colour, rect in self.remote_carets():
            pen = QColor(colour)
            painter.fillRect(QRect(rect.left(), rect.top(), 2, rect.height()), pen)
            if not self.single_line:  # a name flag above the caret
                label = QRect(
                    rect.left(),
                    max(0, rect.top() - metrics.height()),
                    metrics.horizontalAdvance(name) + 6,
                    metrics.height(),
                )
                painter.fillRect(label, pen)
                painter.setPen(QColor("white"))
                painter.drawText(label.adjusted(3, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, name)
        painter.end()

    # Single-line behaviour -------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        for keys, handler in (
            (QKeySequence.StandardKey.Undo, OpenCampaign.undo),
            (QKeySequence.StandardKey.Redo, OpenCampaign.redo),
        ):
            if event.matches(keys) and self.campaign is not None:
                if not self.isReadOnly():
                    handler(self.campaign)
                return
        if self.single_line and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.ignore()  # lets the dialog or form handle Enter
            return
        super().keyPressEvent(event)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 - Qt's name
        if self.single_line and source.hasText():
            self.insertPlainText(" ".join(source.text().splitlines()))
            return
        super().insertFromMimeData(source)
