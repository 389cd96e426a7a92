"""Comments in the campaign document: threads anchored to ranges of the body.

A comment is a plain map in the document's `comments` map (shape: `shared.collaboration.Comment`),
so comments sync, work offline and merge like the text. Anchors are Yjs relative positions: the
range follows its words through everyone's edits.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from pycrdt import Assoc, Doc, Map

from justmaily.desktop.engine.sync import CampaignSync
from justmaily.shared.collaboration import BODY, COMMENTS, Anchor, Comment
from justmaily.shared.document import comments, decode_position, encode_position, text


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
    return _put(sync, Comment(**_new(author_id, author_name, body_text), anchor=anchor))


def reply(
    sync: CampaignSync, thread: Comment, *, author_id: str, author_name: str, body_text: str
) -> Comment:
    return _put(sync, Comment(**_new(author_id, author_name, body_text), reply_to=thread.id))


def set_resolved(sync: CampaignSync, thread: Comment, *, resolved: bool) -> Comment:
    return _put(sync, msgspec.structs.replace(thread, resolved=resolved))


def _new(author_id: str, author_name: str, body_text: str) -> dict[str, Any]:
    if not body_text.strip():
        raise ValueError("A comment needs some text")
    return {
        "id": uuid.uuid4().hex,
        "author_id": author_id,
        "author_name": author_name,
        "text": body_text.strip(),
        "created_at": datetime.now(UTC),
    }


def _put(sync: CampaignSync, comment: Comment) -> Comment:
    def change(doc: Doc[Any]) -> None:
        doc.get(COMMENTS, type=Map)[comment.id] = msgspec.to_builtins(comment)

    sync.edit(change)
    return comment
