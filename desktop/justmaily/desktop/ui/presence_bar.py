"""The editor's footer: who is here (and who is typing), and the state of the connection."""

from __future__ import annotations

import html
import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from justmaily.desktop.engine.campaign import OpenCampaign
from justmaily.desktop.engine.presence import Activity, Peer
from justmaily.desktop.engine.room_client import SyncStatus
from justmaily.desktop.engine.sync import CampaignSync

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


class PresenceBar(QWidget):
    def __init__(self, campaign: OpenCampaign, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.campaign = campaign
        self.people = QLabel()
        self.people.setAccessibleName("People here")
        self.people.setTextFormat(Qt.TextFormat.RichText)
        self.connection = QLabel()
        self.connection.setAccessibleName("Connection")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.people, 1)
        layout.addWidget(self.connection)
        self._shown_peers: list[Peer] | None = None
        self._unsubscribe = [
            campaign.events.peers.subscribe(self._show_people),
            campaign.events.status.subscribe(self._show_connection),
        ]
        self._show_people()
        self._show_connection()

    def _show_connection(self) -> None:
        self.connection.setText(describe_status(self.campaign.sync))

    def _show_people(self) -> None:
        peers = self.campaign.peers()
        if peers == self._shown_peers:
            return
        self._shown_peers = peers
        me = self.campaign.me
        chips = [f'<span style="color:{me["color"]}">●</span> {html.escape(me["name"])} (you)']
        chips += [
            f'<span style="color:{p.colour}">●</span> {html.escape(p.name)} — {ACTIVITY_TEXT[p.activity]}'
            for p in peers
        ]
        self.people.setText("&nbsp;&nbsp;".join(chips))

    def close_bar(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
