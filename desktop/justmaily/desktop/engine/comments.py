"""Comments in the campaign document: threads anchored to ranges of the body.

A comment is a plain map in the document's `comments` map (shape: `shared.collaboration.Comment`),
so comments sync, work offline and merge like the text. Anchors are Yjs relative positions: the
range follows its words through everyone's edits.

Who may edit writes comments into the document directly. Who may comment but not edit (a
reviewer: the room drops their updates) asks the server to write them (`Remote`), which needs
the server to be reachable.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import msgspec
from pycrdt import Assoc, Doc

from justmaily.desktop.engine.api import ApiClient
from justmaily.desktop.engine.errors import DesktopError, ErrorKind
from justmaily.desktop.engine.sync import CampaignSync
from justmaily.shared.collaboration import BODY, Anchor, Comment, CommentCreate, CommentResolve, ReplyCreate
from justmaily.shared.document import (
    comments,
    decode_position,
    encode_position,
    new_comment,
    put_comment,
    text,
)


class Thread(msgspec.Struct, frozen=True, kw_only=True):
    """A comment with its replies, and the range of the body it points at now (UTF-8 offsets)."""

    comment: Comment
    replies: list[Comment]
    start: int | None = None
    end: int | None = None
    quote: str = ""

    @property
    def resolved(self) -> bool:
        return self.comment.resolved


def threads(doc: Doc[Any]) -> list[Thread]:
    everything = comments(doc)
    replies: dict[str, list[Comment]] = {}
    for comment in everything:
        if comment.reply_to:
            replies.setdefault(comment.reply_to, []).append(comment)
    body = text(doc, BODY)
    content = str(body).encode()
    found = []
    for comment in everything:
        if comment.reply_to:
            continue
        start = end = None
        quote = ""
        if comment.anchor is not None:
            start = decode_position(body, comment.anchor.start)
            end = decode_position(body, comment.anchor.end)
            if start is not None and end is not None:
                # An empty range that someone typed into: its start (after) moved past the new
                # text, its end (before) did not. It is still an empty range, not a reversed one.
                end = max(start, end)
                quote = content[start:end].decode(errors="replace")
        found.append(
            Thread(comment=comment, replies=replies.get(comment.id, []), start=start, end=end, quote=quote)
        )
    return found


def add_comment(
    sync: CampaignSync, *, author_id: str, author_name: str, body_text: str, start: int, end: int
) -> Comment:
    """A new thread on the body's range [start, end) (UTF-8 offsets)."""
    if not 0 <= start <= end:
        raise ValueError(f"A comment's range must run forwards, not from {start} to {end}")
    shared = text(sync.doc, BODY)
    anchor = Anchor(start=encode_position(shared, start), end=encode_position(shared, end, Assoc.BEFORE))
    comment = new_comment(text=body_text, author_id=author_id, author_name=author_name, anchor=anchor)
    return _put(sync, comment)


def reply(
    sync: CampaignSync, thread: Comment, *, author_id: str, author_name: str, body_text: str
) -> Comment:
    comment = new_comment(text=body_text, author_id=author_id, author_name=author_name, reply_to=thread.id)
    return _put(sync, comment)


def set_resolved(sync: CampaignSync, thread: Comment, *, resolved: bool) -> Comment:
    return _put(sync, msgspec.structs.replace(thread, resolved=resolved))


def _put(sync: CampaignSync, comment: Comment) -> Comment:
    def change(doc: Doc[Any]) -> None:
        put_comment(doc, comment)

    sync.edit(change)
    return comment


class Remote:
    """Comments written by the server (`POST /api/campaigns/{id}/comments`, …), for members who
    may comment but not edit. The comment reaches the document, and so this copy, through the
    room."""

    def __init__(self, api: ApiClient, sync: CampaignSync) -> None:
        self.api = api
        self.sync = sync

    async def add_comment(self, *, body_text: str, start: int, end: int) -> Comment:
        """A new thread on the body's range [start, end) (UTF-8 offsets into this copy)."""
        if not 0 <= start <= end:
            raise ValueError(f"A comment's range must run forwards, not from {start} to {end}")
        if not body_text.strip():
            raise ValueError("A comment needs some text")
        shared = text(self.sync.doc, BODY)
        anchor = Anchor(start=encode_position(shared, start), end=encode_position(shared, end, Assoc.BEFORE))
        data = CommentCreate(text=body_text.strip(), anchor=anchor)
        return await self._send(self.api.add_comment(self.sync.campaign_id, data))

    async def reply(self, thread: Comment, *, body_text: str) -> Comment:
        if not body_text.strip():
            raise ValueError("A comment needs some text")
        data = ReplyCreate(text=body_text.strip())
        return await self._send(self.api.reply_to_comment(self.sync.campaign_id, thread.id, data))

    async def set_resolved(self, thread: Comment, *, resolved: bool) -> Comment:
        data = CommentResolve(resolved=resolved)
        return await self._send(self.api.resolve_comment(self.sync.campaign_id, thread.id, data))

    @staticmethod
    async def _send(call: Awaitable[Comment]) -> Comment:
        try:
            return await call
        except DesktopError as exc:
            if exc.kind is ErrorKind.UNREACHABLE:
                raise DesktopError(
                    exc.kind,
                    "Comments need the server while you cannot edit this campaign (the server writes"
                    f" them for you): {exc}",
                ) from exc
            raise
