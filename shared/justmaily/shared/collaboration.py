"""Live co-editing: the campaign document's shape, room tickets, and the room protocol's extras.

The document is a Yjs document (pycrdt on the server and desktop, yjs in JavaScript). Its shape
is fixed here, once, by name, so every client finds the same shared types:

- `subject`, `preheader`, `sender`, `body`: root-level shared texts. The body's source format is
  Markdown (see docs/collaboration.md for why).
- `subject_variants`: a root-level shared text, one alternative subject line per line, for an
  A/B test of subject lines (docs/delivery.md). Being in the document, the variants are part of
  what a review approves.
- `comments`: a root-level map from comment id to a comment (`Comment` below, as a plain map),
  anchored to `body` by two relative positions (`Anchor`), so it follows the text it points at.
- `insights`: a root-level map the server writes (readability, spam score, …) and clients read.
- `campaign`: a root-level map the server writes and clients read: the campaign's review
  `status` and the `sent_back_reason`, as in the campaign row, so open editors see a change
  live (and offline, the last one they saw). The server rewrites it whenever it differs from
  the row, also after a client changed it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

TEXT_FIELDS = ("subject", "preheader", "sender", "body", "subject_variants")
BODY = "body"
SUBJECT_VARIANTS = "subject_variants"
# Texts added after documents existed: left out of the content hash while empty, so adding them
# did not change the hash (and void the approval) of any existing campaign.
LATER_TEXTS = frozenset({SUBJECT_VARIANTS})
MAX_SUBJECT_VARIANTS = 5  # besides the subject itself
COMMENTS = "comments"
INSIGHTS = "insights"
CAMPAIGN_STATE = "campaign"

# A message type beyond y-protocols' 0-3, sent only to clients that ask for it (`acks=1`):
# "the server has stored the first N updates you sent on this connection", where the updates
# counted are the sync-step-2 and update messages whose update is not empty (b"\x00\x00").
STORED_MESSAGE_TYPE = 100
# The update that changes nothing (what a client with nothing new answers in sync step 2).
EMPTY_UPDATE = b"\x00\x00"


class CloseCode(enum.IntEnum):
    """Why the server closed a room connection (WebSocket close codes, 4000-4999 are ours)."""

    GOING_AWAY = 1001  # the server is shutting down or unloading the room: reconnect
    INTERNAL_ERROR = 1011
    BAD_MESSAGE = 4400  # not a Yjs message, or an update that does not decode
    BAD_TICKET = 4401  # missing, forged, expired or already used ticket: get a new one
    ACCESS_REVOKED = 4403  # membership removed or role changed: get a new ticket
    NO_SUCH_ROOM = 4404  # the campaign does not exist (any more) in your workspace
    SILENT = 4408  # nothing received for too long (clients renew presence every 15 s)
    MESSAGE_TOO_LARGE = 4413
    TOO_MANY_MESSAGES = 4429
    DOCUMENT_TOO_LARGE = 4507  # the update would take the document past its size limit: undo it
    FELL_BEHIND = 4509  # the room's messages to you piled up unread past the server's bound: reconnect


class RoomTicket(msgspec.Struct, frozen=True, kw_only=True):
    """A short-lived, single-use pass into a campaign's room: connect to `url` (it carries it)."""

    ticket: str
    url: str
    expires_in: int
    read_only: bool


class Anchor(msgspec.Struct, frozen=True, kw_only=True):
    """A range of the body as two Yjs relative positions, so it follows its text through edits.

    Each is base64 of the binary form (`Y.encodeRelativePosition` in JavaScript,
    `StickyIndex.encode()` in pycrdt): the JSON form does not survive a Yjs map, which turns
    client ids into floating-point numbers."""

    start: str
    end: str


class Comment(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    author_id: str
    author_name: str
    text: str
    created_at: datetime
    anchor: Anchor | None = None
    reply_to: str | None = None
    resolved: bool = False


BodyText = Annotated[str, msgspec.Meta(max_length=1_000_000)]


class ReviewState(msgspec.Struct, frozen=True, kw_only=True):
    """The document's `campaign` map: the review state as the server last wrote it."""

    status: str | None = None  # a CampaignStatus value; None before the server wrote one
    sent_back_reason: str = ""


CommentText = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000, examples=["Which dates?"])]


class CommentCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new thread on a range of the body: `start` and `end` count characters (code points) of
    the body as it is now; or `anchor`, two relative positions a Yjs client made itself."""

    text: CommentText
    start: Annotated[int, msgspec.Meta(ge=0)] | None = None
    end: Annotated[int, msgspec.Meta(ge=0)] | None = None
    anchor: Anchor | None = None


class ReplyCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    text: CommentText


class CommentResolve(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    resolved: bool


class CampaignContent(msgspec.Struct, frozen=True, kw_only=True):
    """The document materialised as JSON (the REST bridge for headless users)."""

    campaign_id: UUID
    subject: str
    preheader: str
    sender: str
    body: str
    subject_variants: str = ""  # alternative subjects for an A/B test, one per line
    comments: list[Comment] = msgspec.field(default_factory=list)
    insights: dict[str, object] = msgspec.field(default_factory=dict)
    # SHA-256 of the canonical content (the texts; comments are not content): what a review
    # approves.
    content_hash: str = ""


class ContentBase(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The texts as you last read them (GET …/content): only the document's texts, by name."""

    subject: BodyText | msgspec.UnsetType = msgspec.UNSET
    preheader: BodyText | msgspec.UnsetType = msgspec.UNSET
    sender: BodyText | msgspec.UnsetType = msgspec.UNSET
    body: BodyText | msgspec.UnsetType = msgspec.UNSET
    subject_variants: BodyText | msgspec.UnsetType = msgspec.UNSET


class ContentPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """New values for some texts. The server turns each into the smallest edit of the shared text,
    in one transaction, so live editors keep their carets and their concurrent typing."""

    subject: Annotated[str, msgspec.Meta(max_length=998)] | msgspec.UnsetType = msgspec.UNSET
    preheader: Annotated[str, msgspec.Meta(max_length=500)] | msgspec.UnsetType = msgspec.UNSET
    sender: Annotated[str, msgspec.Meta(max_length=320)] | msgspec.UnsetType = msgspec.UNSET
    body: BodyText | msgspec.UnsetType = msgspec.UNSET
    subject_variants: Annotated[str, msgspec.Meta(max_length=6000)] | msgspec.UnsetType = msgspec.UNSET
    # The texts as you last read them (GET …/content), by name. Given, your change (base -> new)
    # is merged into what others wrote since; without it the text simply becomes the new value.
    base: ContentBase = msgspec.field(default_factory=ContentBase)


class VersionCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Before legal review"])]


class Version(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    campaign_id: UUID
    name: str
    kind: str  # "named", or "review" when the campaign was sent to review
    content_hash: str
    created_by: UUID
    created_at: datetime


def subject_lines(subject: str, variants: str) -> list[str]:
    """The subjects an A/B test compares: the subject first, then each distinct non-blank line of
    `variants` (at most MAX_SUBJECT_VARIANTS of them)."""
    lines = [subject.strip()]
    for line in map(str.strip, variants.splitlines()):
        if line and line not in lines:
            lines.append(line)
    return lines[: MAX_SUBJECT_VARIANTS + 1]
