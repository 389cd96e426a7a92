"""The campaign editor: the document's texts, others' presence, comments, versions, review and a
live preview, all following one `CampaignSync`."""

from __future__ import annotations

import difflib
import html
import math
import uuid
from collections.abc import Awaitable, Callable

import msgspec
from pycrdt import UndoManager
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from justmaily.desktop.engine import comments
from justmaily.desktop.engine.account import Account
from justmaily.desktop.engine.presence import Activity, Peer
from justmaily.desktop.engine.review import EditConsent
from justmaily.desktop.engine.room_client import LOCAL, SyncStatus
from justmaily.desktop.engine.sync import CampaignSync
from justmaily.desktop.ui.tasks import Tasks
from justmaily.desktop.ui.text_binding import CollabTextEdit, byte_offset, utf16_position
from justmaily.shared.campaigns import TRANSITIONS, Campaign, CampaignAction, CampaignStatus
from justmaily.shared.collaboration import (
    BODY,
    SUBJECT_VARIANTS,
    TEXT_FIELDS,
    CampaignContent,
    ReviewState,
    Version,
)
from justmaily.shared.document import review_state, texts
from justmaily.shared.document.rendering import render_html
from justmaily.shared.roles import Permission

REVIEW_ACTIONS = {
    CampaignAction.SUBMIT: "Request review",
    CampaignAction.WITHDRAW: "Withdraw from review",
    CampaignAction.APPROVE: "Approve",
    CampaignAction.SEND_BACK: "Send back",
}
STATUS_TEXT = {
    SyncStatus.ONLINE: "● Online — all changes saved",
    SyncStatus.CONNECTING: "◌ Connecting…",
}
ACTIVITY_TEXT = {Activity.TYPING: "typing…", Activity.IDLE: "idle", Activity.HERE: "here"}


def describe_status(sync: CampaignSync) -> str:
    """The sync state in words, with the number of changes not yet on the server."""
    pending = sync.pending
    changes = f"{pending} change{'s' if pending != 1 else ''}"
    if sync.status is SyncStatus.STOPPED:
        return f"■ Stopped: {sync.problem}"
    if sync.status is SyncStatus.OFFLINE:
        retry = f", retrying in {math.ceil(sync.next_retry_in)} s" if sync.next_retry_in else ""
        waiting = f" — {changes} waiting" if pending else ""
        return f"○ Offline{waiting}{retry}"
    if sync.status is SyncStatus.SYNCING:
        return f"◐ Syncing {changes}…" if pending else "◐ Syncing…"
    return STATUS_TEXT.get(sync.status, sync.status.value)


class CampaignEditor(QWidget):
    campaign_changed = Signal(object)  # the Campaign, after a review action

    def __init__(
        self,
        account: Account,
        campaign: Campaign,
        sync: CampaignSync,
        tasks: Tasks,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.account = account
        self.campaign = campaign
        self.sync = sync
        self.tasks = tasks
        self.setObjectName(f"editor-{campaign.id}")
        self.fields = {
            name: CollabTextEdit(name, single_line=name not in (BODY, SUBJECT_VARIANTS))
            for name in ("sender", "subject", SUBJECT_VARIANTS, "preheader", BODY)
        }
        _shape_variants(self.fields[SUBJECT_VARIANTS])
        self.preview = QTextBrowser()
        self.preview.setAccessibleName("Preview")
        self.preview.setOpenLinks(False)
        self.inbox_line = QLabel()
        self.inbox_line.setAccessibleName("Inbox line")
        self.inbox_line.setTextFormat(Qt.TextFormat.RichText)
        self.inbox_line.setWordWrap(True)
        self.presence = QLabel()
        self.presence.setAccessibleName("People here")
        self.presence.setTextFormat(Qt.TextFormat.RichText)
        self.connection = QLabel()
        self.connection.setAccessibleName("Connection")
        self.status_label = QLabel()
        self.status_label.setObjectName("campaign-status")
        self.sent_back = _notice("sent-back-reason")  # why a reviewer sent it back, for the editors
        self.consent = EditConsent()  # asked before the first edit of a campaign under review
        self._shown_state: ReviewState | None = None  # the document's review state, last followed
        self._consent_box: QMessageBox | None = None
        self._remote_comments = comments.Remote(account.api, sync)
        self.review_buttons: dict[CampaignAction, QPushButton] = {}
        self.threads = _threads_tree()
        self.versions = QListWidget()
        self.versions.setAccessibleName("Versions")
        self._versions: list[Version] = []
        self._thread_signature: list[tuple[str, bool, int, str]] | None = None
        self.comparison = QTextBrowser()
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(120)
        self._preview_timer.timeout.connect(self._follow_document)
        self._shown_peers: list[Peer] | None = None
        self._build()
        # Undo and redo are the user's own edits only: others' typing is never undone.
        self.history = UndoManager(scopes=[sync.text(n) for n in TEXT_FIELDS], capture_timeout_millis=500)
        self.history.include_origin(LOCAL)
        for widget in self.fields.values():
            widget.bind(sync)
            widget.confirm_edit = self._confirm_edit
            widget.on_undo = self.history.undo
            widget.on_redo = self.history.redo
        self._unsubscribe = sync.subscribe(self._on_sync_changed)
        self._on_sync_changed()
        self._follow_document()
        self._show_campaign()

    # Layout ----------------------------------------------------------------------------------

    def _build(self) -> None:
        title = QLabel(f"<h2>{html.escape(self.campaign.name)}</h2>")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addWidget(self.status_label)
        header.addStretch(1)
        for action, label in REVIEW_ACTIONS.items():
            if not self.account.may(TRANSITIONS[action].permission):
                continue  # buttons follow the role; the server enforces the same table
            button = QPushButton(label)
            button.setObjectName(f"review-{action.value}")
            button.clicked.connect(lambda _=False, a=action: self._review(a))
            header.addWidget(button)
            self.review_buttons[action] = button
        if CampaignAction.SUBMIT in self.review_buttons:
            self.review_buttons[CampaignAction.SUBMIT].setShortcut(QKeySequence("Ctrl+Shift+R"))

        form = QFormLayout()
        captions = {"sender": "&Sender", "subject": "S&ubject", SUBJECT_VARIANTS: "&A/B subjects"}
        for name in ("sender", "subject", SUBJECT_VARIANTS, "preheader"):
            caption = QLabel(captions.get(name, f"&{name.capitalize()}"))
            caption.setBuddy(self.fields[name])
            form.addRow(caption, self.fields[name])
        read_only = self.sync.read_only or not self.account.may(Permission.CAMPAIGNS_WRITE)
        for widget in self.fields.values():
            widget.setReadOnly(read_only)

        side = QTabWidget()
        side.addTab(self._comments_panel(), "Comments")
        side.addTab(self._versions_panel(), "Versions")

        splitter = QSplitter()
        splitter.addWidget(self.fields[BODY])
        preview = QWidget()
        preview_layout = QVBoxLayout(preview)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        preview_layout.addWidget(self.inbox_line)
        preview_layout.addWidget(self.preview, 1)
        splitter.addWidget(preview)
        splitter.addWidget(side)
        splitter.setSizes([420, 380, 260])
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 2)

        footer = QHBoxLayout()
        footer.addWidget(self.presence, 1)
        footer.addWidget(self.connection)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.sent_back)
        layout.addLayout(form)
        layout.addWidget(splitter, 1)
        layout.addLayout(footer)
        self.setTabOrder(self.fields["sender"], self.fields["subject"])
        self.setTabOrder(self.fields["subject"], self.fields[SUBJECT_VARIANTS])
        self.setTabOrder(self.fields[SUBJECT_VARIANTS], self.fields["preheader"])
        self.setTabOrder(self.fields["preheader"], self.fields[BODY])

    def _comments_panel(self) -> QWidget:
        panel = QWidget()
        add = QPushButton("Comment on selection")
        add.setObjectName("comment-add")
        add.setShortcut(QKeySequence("Ctrl+Alt+M"))
        add.clicked.connect(self._add_comment)
        reply = QPushButton("Reply")
        reply.clicked.connect(self._reply)
        resolve = QPushButton("Resolve / reopen")
        resolve.setObjectName("comment-resolve")
        resolve.clicked.connect(self._toggle_resolved)
        self.threads.itemActivated.connect(self._select_thread_range)
        # Who may edit writes comments into the document; who may only comment asks the server.
        may_comment = self._can_edit() or self.account.may(Permission.CAMPAIGNS_COMMENT)
        buttons = QHBoxLayout()
        for button in (add, reply, resolve):
            button.setEnabled(may_comment)
            buttons.addWidget(button)
        layout = QVBoxLayout(panel)
        layout.addLayout(buttons)
        layout.addWidget(self.threads)
        return panel

    def _versions_panel(self) -> QWidget:
        panel = QWidget()
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(lambda: self.tasks.spawn(self.load_versions))
        save = QPushButton("Save version…")
        save.clicked.connect(self._save_version)
        restore = QPushButton("Restore")
        restore.setObjectName("version-restore")
        restore.clicked.connect(self._restore_version)
        may_write = self.account.may(Permission.CAMPAIGNS_WRITE)
        save.setEnabled(may_write)
        restore.setEnabled(may_write)
        self.versions.currentRowChanged.connect(lambda _row: self.tasks.spawn(self._compare_selected))
        buttons = QHBoxLayout()
        for button in (refresh, save, restore):
            buttons.addWidget(button)
        layout = QVBoxLayout(panel)
        layout.addLayout(buttons)
        layout.addWidget(self.versions, 1)
        layout.addWidget(QLabel("Compared with now (- version, + now):"))
        layout.addWidget(self.comparison, 2)
        return panel

    # Following the document ------------------------------------------------------------------

    def _on_sync_changed(self) -> None:
        self.connection.setText(describe_status(self.sync))
        self._follow_review_state()
        read_only = self.sync.read_only or not self.account.may(Permission.CAMPAIGNS_WRITE)
        for widget in self.fields.values():  # the role can change while the campaign is open
            if widget.isReadOnly() != read_only:
                widget.setReadOnly(read_only)
        # Views of the document's content follow it a beat later, once per burst of typing.
        self._preview_timer.start()
        peers = self.sync.peers()
        if peers == self._shown_peers:
            return
        self._shown_peers = peers
        me = self.account.presence
        chips = [f'<span style="color:{me["color"]}">●</span> {html.escape(me["name"])} (you)']
        chips += [
            f'<span style="color:{p.colour}">●</span> {html.escape(p.name)} — {ACTIVITY_TEXT[p.activity]}'
            for p in peers
        ]
        self.presence.setText("&nbsp;&nbsp;".join(chips))
        for widget in self.fields.values():
            widget.show_peers(peers)

    def _follow_document(self) -> None:
        self._render_preview()
        self._show_threads()

    def _render_preview(self) -> None:
        values = texts(self.sync.doc)
        scroll = self.preview.verticalScrollBar().value()
        # The inbox line above the message: Qt's HTML ignores `display:none`, so the preheader,
        # hidden in the sent HTML, would otherwise show as body text.
        self.inbox_line.setText(
            f"<b>{html.escape(values['subject'])}</b>"
            f" — <span style='color:#6b7280'>{html.escape(values['preheader'])}</span>"
        )
        self.preview.setHtml(render_html(subject=values["subject"], preheader="", body=values["body"]))
        self.preview.verticalScrollBar().setValue(scroll)

    def _show_campaign(self) -> None:
        status = self.campaign.status
        self.status_label.setText(f"Status: <b>{status.value.replace('_', ' ')}</b>")
        for action, button in self.review_buttons.items():
            button.setEnabled(status in TRANSITIONS[action].sources)
        reason = self.campaign.sent_back_reason
        self.sent_back.setText(f"Sent back by the reviewer: {reason}" if reason else "")
        self.sent_back.setVisible(bool(reason) and status is CampaignStatus.DRAFT)

    def _follow_review_state(self) -> None:
        """The server writes the campaign's status (and a send-back's reason) into the document:
        show a change at once, here and, through `campaign_changed`, in the campaign list."""
        state = review_state(self.sync.doc)
        # Only a change of the map counts: the row read over REST may be newer than a map the
        # server has not rewritten yet (what the sending worker sets reaches it later).
        if state == self._shown_state:
            return
        self._shown_state = state
        try:
            status = CampaignStatus(state.status) if state.status else None
        except ValueError:
            return
        reason = state.sent_back_reason or None
        if status is None or (status, reason) == (self.campaign.status, self.campaign.sent_back_reason):
            return
        self.campaign = msgspec.structs.replace(self.campaign, status=status, sent_back_reason=reason)
        self._show_campaign()
        self.campaign_changed.emit(self.campaign)

    def _can_edit(self) -> bool:
        return not self.sync.read_only and self.account.may(Permission.CAMPAIGNS_WRITE)

    def _confirm_edit(self, make: Callable[[], None]) -> bool:
        """Before the first edit of a campaign under review: ask (without blocking), and make the
        edit only if the user agrees."""
        status = self.campaign.status
        question = self.consent.question(status)
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
                    self.consent.grant(status)
                    make()

            box.finished.connect(answered)
            self._consent_box = box
            box.open()
        return False

    # Review ----------------------------------------------------------------------------------

    def _review(self, action: CampaignAction) -> None:
        reason = ""
        if action is CampaignAction.SEND_BACK:
            reason, ok = QInputDialog.getMultiLineText(
                self, "Send back", "What should the editors change? (they see this)"
            )
            if not ok:
                return
        self.tasks.spawn(self._transition, action, reason)

    async def _transition(self, action: CampaignAction, reason: str = "") -> None:
        self.campaign = await self.account.api.transition(self.campaign.id, action, reason=reason)
        self._show_campaign()
        self.campaign_changed.emit(self.campaign)

    async def refresh_campaign(self) -> None:
        self.campaign = await self.account.api.campaign(self.campaign.id)
        self._show_campaign()

    # Comments --------------------------------------------------------------------------------

    def _show_threads(self) -> None:
        selected = self._selected_thread_id()
        found = comments.threads(self.sync.doc)
        signature = [(t.comment.id, t.comment.resolved, len(t.replies), t.quote) for t in found]
        if signature == self._thread_signature:
            return
        self._thread_signature = signature
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

    def _selected_thread(self) -> comments.Thread | None:
        wanted = self._selected_thread_id()
        return next((t for t in comments.threads(self.sync.doc) if t.comment.id == wanted), None)

    def _author(self) -> dict[str, str]:
        return {"author_id": self.account.session.user_id, "author_name": self.account.presence["name"]}

    def _add_comment(self) -> None:
        body = self.fields[BODY]
        cursor = body.textCursor()
        if not cursor.hasSelection():
            QMessageBox.information(self, "Comment", "Select the text of the body you want to comment on.")
            return
        words, ok = QInputDialog.getMultiLineText(self, "Comment", "Your comment:")
        if ok and words.strip():
            self.comment_on_selection(words)

    def comment_on_selection(self, words: str) -> None:
        body = self.fields[BODY]
        cursor = body.textCursor()
        source = body.toPlainText()
        start = byte_offset(source, cursor.selectionStart())
        end = byte_offset(source, cursor.selectionEnd())
        if not self._can_edit():
            self.tasks.spawn(
                self._remote(self._remote_comments.add_comment(body_text=words, start=start, end=end))
            )
            return
        self._guard(
            lambda: comments.add_comment(self.sync, body_text=words, start=start, end=end, **self._author())
        )

    def _reply(self) -> None:
        thread = self._selected_thread()
        if thread is None:
            return
        words, ok = QInputDialog.getMultiLineText(self, "Reply", f"Reply to {thread.comment.author_name}:")
        if ok and words.strip():
            self.reply_to(thread, words)

    def reply_to(self, thread: comments.Thread, words: str) -> None:
        if not self._can_edit():
            self.tasks.spawn(self._remote(self._remote_comments.reply(thread.comment, body_text=words)))
            return
        self._guard(lambda: comments.reply(self.sync, thread.comment, body_text=words, **self._author()))

    def _toggle_resolved(self) -> None:
        thread = self._selected_thread()
        if thread is None:
            return
        if not self._can_edit():
            change = self._remote_comments.set_resolved(thread.comment, resolved=not thread.resolved)
            self.tasks.spawn(self._remote(change))
            return
        self._guard(lambda: comments.set_resolved(self.sync, thread.comment, resolved=not thread.resolved))

    def _remote(self, call: Awaitable[object]) -> Callable[[], Awaitable[None]]:
        """Work for `tasks.spawn`: a comment the server writes; it arrives through the room."""

        async def work() -> None:
            try:
                await call
            except ValueError as exc:  # an empty comment or a reversed range
                QMessageBox.warning(self, "Not possible", str(exc))

        return work

    def _select_thread_range(self) -> None:
        thread = self._selected_thread()
        if thread is None or thread.start is None or thread.end is None:
            return
        body = self.fields[BODY]
        source = body.toPlainText()
        cursor = body.textCursor()
        cursor.setPosition(utf16_position(source, thread.start))
        cursor.setPosition(utf16_position(source, thread.end), cursor.MoveMode.KeepAnchor)
        body.setTextCursor(cursor)
        body.setFocus()

    def _guard(self, change: object) -> None:
        try:
            change()  # type: ignore[operator]
        except Exception as exc:  # a refused edit (read-only role) or an empty comment
            QMessageBox.warning(self, "Not possible", str(exc))

    # Versions --------------------------------------------------------------------------------

    async def load_versions(self) -> None:
        self._versions = await self.account.api.versions(self.campaign.id)
        self.versions.clear()
        for version in self._versions:  # items hold plain text: PySide6 mishandles Python objects in them
            self.versions.addItem(f"{version.name} — {version.kind}, {version.created_at:%Y-%m-%d %H:%M}")

    def _selected_version(self) -> Version | None:
        row = self.versions.currentRow()
        return self._versions[row] if 0 <= row < len(self._versions) else None

    async def _compare_selected(self) -> None:
        version = self._selected_version()
        if version is None:
            return
        content = await self.account.api.version_content(self.campaign.id, version.id)
        self.comparison.setHtml(compare_html(content, texts(self.sync.doc)))

    def _save_version(self) -> None:
        name, ok = QInputDialog.getText(self, "Save version", "Name this version:")
        if ok and name.strip():
            self.tasks.spawn(self._create_version, name.strip())

    async def _create_version(self, name: str) -> None:
        await self.account.api.create_version(self.campaign.id, name)
        await self.load_versions()

    def _restore_version(self) -> None:
        version = self._selected_version()
        if version is None:
            return

        def restore() -> None:
            self.tasks.spawn(self._restore, version.id)

        if self._confirm_edit(restore):  # a restore is an edit: it too voids a review
            restore()

    async def _restore(self, version_id: uuid.UUID) -> None:
        await self.account.api.restore_version(self.campaign.id, version_id)
        await self.refresh_campaign()

    def close_editor(self) -> None:
        self._unsubscribe()
        for widget in self.fields.values():
            widget.unbind()


def _shape_variants(variants: CollabTextEdit) -> None:
    variants.setPlaceholderText("Other subject lines to A/B test, one per line (optional)")
    variants.setFixedHeight(3 * variants.fontMetrics().lineSpacing() + 16)


def _threads_tree() -> QTreeWidget:
    threads = QTreeWidget()
    threads.setHeaderLabels(["Comment", "By"])
    threads.header().setStretchLastSection(False)
    threads.header().setSectionResizeMode(0, threads.header().ResizeMode.Stretch)
    threads.setAccessibleName("Comments")
    return threads


def _notice(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setStyleSheet("background: #fef3c7; color: #78350f; padding: 6px; border-radius: 4px;")
    label.hide()
    return label


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
