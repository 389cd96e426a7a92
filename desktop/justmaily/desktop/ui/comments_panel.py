"""Comment threads on the body: each with the words it points at, its replies, resolved or open;
new ones on the body's selection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from justmaily.desktop.engine.campaign import OpenCampaign
from justmaily.desktop.engine.comments import Thread
from justmaily.desktop.ui.tasks import Tasks
from justmaily.desktop.ui.text_binding import CollabTextEdit, byte_offset, utf16_position


class CommentsPanel(QWidget):
    def __init__(
        self, campaign: OpenCampaign, tasks: Tasks, body: CollabTextEdit, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.campaign = campaign
        self.tasks = tasks
        self.body = body  # the selection to comment on, and where a thread's words are shown
        self.threads = QTreeWidget()
        self.threads.setHeaderLabels(["Comment", "By"])
        self.threads.header().setStretchLastSection(False)
        self.threads.header().setSectionResizeMode(0, self.threads.header().ResizeMode.Stretch)
        self.threads.setAccessibleName("Comments")
        self.threads.itemActivated.connect(self._select_thread_range)
        add = QPushButton("Comment on selection")
        add.setObjectName("comment-add")
        add.setShortcut(QKeySequence("Ctrl+Alt+M"))
        add.clicked.connect(self._add_comment)
        reply = QPushButton("Reply")
        reply.clicked.connect(self._reply)
        resolve = QPushButton("Resolve / reopen")
        resolve.setObjectName("comment-resolve")
        resolve.clicked.connect(self._toggle_resolved)
        buttons = QHBoxLayout()
        for button in (add, reply, resolve):
            button.setEnabled(campaign.may_comment)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.threads)
        self._signature: list[tuple[str, bool, int, str]] | None = None
        # A thread's quote follows the body's words, so the body's changes count too.
        self._unsubscribe = [
            campaign.events.comments.subscribe(self._show_threads),
            campaign.events.texts.subscribe(self._show_threads),
        ]
        self._show_threads()

    def _show_threads(self) -> None:
        selected = self._selected_thread_id()
        found = self.campaign.threads()
        signature = [(t.comment.id, t.comment.resolved, len(t.replies), t.quote) for t in found]
        if signature == self._signature:
            return
        self._signature = signature
        self.threads.clear()
        for thread in found:
            state = "✓ " if thread.resolved else ""
            item = QTreeWidgetItem(
                self.threads, [f"{state}{thread.comment.text}", thread.comment.author_name]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, thread.comment.id)
            item.setToolTip(0, f"On: “{thread.quote}”")
            for answer in thread.replies:
                child = QTreeWidgetItem(item, [answer.text, answer.author_name])
                child.setData(0, Qt.ItemDataRole.UserRole, thread.comment.id)
            if thread.comment.id == selected:
                self.threads.setCurrentItem(item)
        self.threads.expandAll()

    def _selected_thread_id(self) -> str | None:
        item = self.threads.currentItem()
        return str(item.data(0, Qt.ItemDataRole.UserRole)) if item is not None else None

    def selected_thread(self) -> Thread | None:
        wanted = self._selected_thread_id()
        return next((t for t in self.campaign.threads() if t.comment.id == wanted), None)

    def _add_comment(self) -> None:
        if not self.body.textCursor().hasSelection():
            QMessageBox.information(self, "Comment", "Select the text of the body you want to comment on.")
            return
        words, ok = QInputDialog.getMultiLineText(self, "Comment", "Your comment:")
        if ok and words.strip():
            self.comment_on_selection(words)

    def comment_on_selection(self, words: str) -> None:
        cursor = self.body.textCursor()
        source = self.body.toPlainText()
        start = byte_offset(source, cursor.selectionStart())
        end = byte_offset(source, cursor.selectionEnd())
        self.tasks.spawn(self._refusals_shown(self.campaign.add_comment(words, start, end)))

    def _reply(self) -> None:
        thread = self.selected_thread()
        if thread is None:
            return
        words, ok = QInputDialog.getMultiLineText(self, "Reply", f"Reply to {thread.comment.author_name}:")
        if ok and words.strip():
            self.reply_to(thread, words)

    def reply_to(self, thread: Thread, words: str) -> None:
        self.tasks.spawn(self._refusals_shown(self.campaign.reply(thread.comment, words)))

    def _toggle_resolved(self) -> None:
        thread = self.selected_thread()
        if thread is None:
            return
        change = self.campaign.set_resolved(thread.comment, resolved=not thread.resolved)
        self.tasks.spawn(self._refusals_shown(change))

    def _refusals_shown(self, call: Awaitable[object]) -> Callable[[], Awaitable[None]]:
        """Work for `tasks.spawn` whose refusal (an empty comment, a reversed range) is shown
        here; a `DesktopError` (no server, no permission) is the tasks' to report."""

        async def work() -> None:
            try:
                await call
            except ValueError as exc:
                QMessageBox.warning(self, "Not possible", str(exc))

        return work

    def _select_thread_range(self) -> None:
        thread = self.selected_thread()
        if thread is None or thread.start is None or thread.end is None:
            return
        source = self.body.toPlainText()
        cursor = self.body.textCursor()
        cursor.setPosition(utf16_position(source, thread.start))
        cursor.setPosition(utf16_position(source, thread.end), cursor.MoveMode.KeepAnchor)
        self.body.setTextCursor(cursor)
        self.body.setFocus()

    def close_panel(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
