"""Presence in a campaign's room: our awareness state (who we are, our caret, whether we are
typing), and everyone else's read back as `Peer`s.

Carets travel as Yjs relative positions (they follow concurrent edits) and as plain UTF-8
offsets, because pycrdt's relative positions are wrong in non-ASCII text (see `caret`).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from typing import Any

import anyio
import msgspec
from pycrdt import Text

from justmaily.desktop.engine.notify import Topic
from justmaily.desktop.engine.room_client import RoomClient, Timing
from justmaily.shared.document import decode_position, encode_position


class Activity(enum.StrEnum):
    HERE = "here"
    TYPING = "typing"
    IDLE = "idle"


class Peer(msgspec.Struct, frozen=True, kw_only=True):
    """Someone else in the room, from their awareness state."""

    client_id: int
    name: str
    colour: str
    activity: Activity
    user_id: str | None = None
    field: str | None = None  # which text their caret is in
    anchor: int | None = None  # selection start and caret, as offsets into that text (UTF-8)
    head: int | None = None


class Presence:
    """Ours, published through `room`; others', as `peers()`."""

    def __init__(
        self, room: RoomClient, texts: Mapping[str, Text], user: dict[str, str], timing: Timing
    ) -> None:
        self.room = room
        self.texts = texts
        self.user = user  # {"id", "name", "color"}: how others see us
        self.timing = timing
        self.changed = Topic()  # anyone's presence, ours included
        self._last_typed = 0.0
        self._last_active = time.monotonic()
        self._cursor: dict[str, Any] | None = None
        room.awareness.observe(lambda *_: self.changed.emit())
        self._set_state()

    def typed(self) -> None:
        """A local edit: "typing" for a while."""
        self._last_typed = self._last_active = time.monotonic()
        self.announce()

    def set_cursor(self, field: str | None, anchor: int | None = None, head: int | None = None) -> None:
        """Where our caret and selection are (offsets into `field`'s text), for others to draw."""
        self._last_active = time.monotonic()
        if field is None or anchor is None or head is None:
            self._cursor = None
        else:
            shared = self.texts[field]
            self._cursor = {
                "field": field,
                "anchor": encode_position(shared, anchor),
                "head": encode_position(shared, head),
                # Plain offsets too: pycrdt's relative positions are wrong in non-ASCII text.
                "anchor_index": anchor,
                "head_index": head,
            }
        self.announce()

    def activity(self) -> Activity:
        now = time.monotonic()
        if now - self._last_typed < self.timing.typing_for:
            return Activity.TYPING
        if now - self._last_active > self.timing.idle_after:
            return Activity.IDLE
        return Activity.HERE

    def announce(self) -> None:
        """Publish our presence: the state at once, the message once per burst (a keystroke both
        edits, which says "typing", and moves the caret)."""
        self._set_state()
        self.room.announce()

    def _set_state(self) -> None:
        state = {"user": self.user, "cursor": self._cursor, "status": self.activity().value}
        self.room.awareness.set_local_state(state)

    async def follow_activity(self) -> None:
        """Tell others when we stop typing or go idle (those changes have no event of their own)."""
        shown = self.activity()
        while True:
            await anyio.sleep(1.0)
            now = self.activity()
            if now != shown:
                shown = now
                self.announce()

    def peers(self) -> list[Peer]:
        found = [peer(client_id, state, self.texts) for client_id, state in self.room.peers().items()]
        return sorted(found, key=lambda p: (p.name, p.client_id))


def caret(shared: Text, cursor: dict[str, Any]) -> tuple[int | None, int | None]:
    """A peer's selection as UTF-8 offsets. Relative positions follow concurrent edits, but
    pycrdt 0.14 mixes UTF-8 and UTF-16 units in them (pycrdt issue #382): in non-ASCII text
    the plain offsets the peer also sends are the better answer."""
    content = str(shared)
    size = len(content.encode())
    found: list[int | None] = []
    for key in ("anchor", "head"):
        plain = cursor.get(f"{key}_index")
        if size == len(content) or not isinstance(plain, int):  # ASCII, or a peer that sends none
            relative = decode_position(shared, str(cursor.get(key, "")))
            found.append(None if relative is None else min(max(relative, 0), size))
        else:
            found.append(min(max(plain, 0), size))
    return found[0], found[1]


def peer(client_id: int, state: dict[str, Any], texts: Mapping[str, Text]) -> Peer:
    """Someone's awareness state as a `Peer`; whatever a client wrote, something to show."""
    raw_user, raw_cursor = state.get("user"), state.get("cursor")
    user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
    cursor: dict[str, Any] | None = raw_cursor if isinstance(raw_cursor, dict) else None
    field = anchor = head = None
    if cursor and cursor.get("field") in texts:
        field = cursor["field"]
        anchor, head = caret(texts[field], cursor)
    try:
        activity = Activity(state.get("status", "here"))
    except ValueError:
        activity = Activity.HERE
    return Peer(
        client_id=client_id,
        name=str(user.get("name") or "Someone"),
        colour=str(user.get("color") or "#6b7280"),
        user_id=user.get("id"),
        activity=activity,
        field=field,
        anchor=anchor,
        head=head,
    )
