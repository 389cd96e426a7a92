"""The REST bridge and versions: read a campaign's document, change it by a server-side
transaction, freeze and restore versions.

Holds no database transaction of its own while it waits for a room to store a change: the
room's writer needs the write turn (SQLite has one).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NoReturn

import msgspec
import structlog
from pycrdt import Assoc, Doc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns.models import Campaign
from justmaily.server.campaigns.service import find
from justmaily.server.collaboration import insights
from justmaily.server.collaboration.frozen import REVIEW
from justmaily.server.collaboration.materialise import show_state
from justmaily.server.collaboration.models import DocumentVersion
from justmaily.server.collaboration.rooms import CampaignRoom, RoomManager
from justmaily.server.collaboration.store import insert_updates
from justmaily.server.collaboration.views import to_wire
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.events import CampaignStatusChanged
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.principal import Principal
from justmaily.shared.campaigns import CONTENT_FIELDS, EDITABLE_STATUSES
from justmaily.shared.collaboration import (
    BODY,
    EMPTY_UPDATE,
    TEXT_FIELDS,
    Anchor,
    CampaignContent,
    Comment,
    CommentCreate,
    CommentResolve,
    ContentPatch,
    ReplyCreate,
    Version,
)
from justmaily.shared.document import (
    comments,
    content_hash,
    decode_position,
    encode_position,
    load_document,
    materialise,
    new_comment,
    put_comment,
    rebase_text,
    replace_text,
    restore,
    text,
)
from justmaily.shared.problems import FieldError

log = structlog.get_logger(__name__)

BRIDGE_ORIGIN = "rest-bridge"


class ContentService:
    def __init__(self, database: Database, rooms: RoomManager) -> None:
        self.database = database
        self.rooms = rooms

    async def write_first(self, session: AsyncSession, campaign: Campaign) -> None:
        doc: Doc[Any] = Doc()
        with doc.transaction(origin=BRIDGE_ORIGIN):
            for name in CONTENT_FIELDS:
                value = getattr(campaign, name)
                if value:
                    text(doc, name).insert(0, value)
        show_state(doc, campaign)
        await insert_updates(session, campaign.id, [doc.get_update()])

    async def campaign(self, principal: Principal, campaign_id: uuid.UUID) -> Campaign:
        async with self.database.session(read_only=True) as session:
            return await find(session, principal, campaign_id)

    async def read(self, principal: Principal, campaign_id: uuid.UUID) -> CampaignContent:
        await self.campaign(principal, campaign_id)
        content: CampaignContent = await self._with_doc(
            principal, campaign_id, lambda d: materialise(d, campaign_id)
        )
        return content

    async def freeze(self, principal: Principal, campaign_id: uuid.UUID) -> tuple[str, bytes]:
        """The document's content hash and the whole document as one update."""
        frozen: tuple[str, bytes] = await self._with_doc(
            principal, campaign_id, lambda doc: (content_hash(doc), doc.get_update())
        )
        return frozen

    async def current_hash(self, principal: Principal, campaign_id: uuid.UUID) -> str:
        digest: str = await self._with_doc(principal, campaign_id, content_hash)
        return digest

    async def freeze_for_review(self, principal: Principal, campaign_id: uuid.UUID) -> str:
        return (
            await VersionService(self).create(principal, campaign_id, "Sent to review", kind=REVIEW)
        ).content_hash

    async def change(
        self, principal: Principal, campaign_id: uuid.UUID, patch: ContentPatch
    ) -> CampaignContent:
        """Apply the patch in one transaction of the live document; answer once it is stored."""

        def apply(doc: Doc[Any]) -> None:
            for name in TEXT_FIELDS:
                value = getattr(patch, name)
                if value is msgspec.UNSET:
                    continue
                base = getattr(patch.base, name)
                if base is not msgspec.UNSET:
                    rebase_text(text(doc, name), base, value)
                else:
                    replace_text(text(doc, name), value)

        return await self.edit(principal, campaign_id, apply)

    async def edit(
        self, principal: Principal, campaign_id: uuid.UUID, apply: Callable[[Doc[Any]], None]
    ) -> CampaignContent:
        """Change the content: refused once sending has started."""
        campaign = await self.campaign(principal, campaign_id)
        if campaign.status not in EDITABLE_STATUSES:
            raise ApiError(
                409, "not_editable", f"a campaign that is {campaign.status} can no longer be edited"
            )
        return await self._apply(principal, campaign_id, apply)

    async def _apply(
        self, principal: Principal, campaign_id: uuid.UUID, apply: Callable[[Doc[Any]], Any]
    ) -> CampaignContent:
        """Run `apply` in one transaction of the live document; answer once it is stored."""
        room = await self.rooms.acquire(campaign_id, principal.workspace_id)
        try:
            doc = room.doc
            before = doc.get_state()
            with doc.transaction(origin=BRIDGE_ORIGIN):
                apply(doc)
            await self._store(room, doc.get_update(before))
            return materialise(doc, campaign_id)
        finally:
            await self.rooms.release(room)

    @staticmethod
    async def _store(room: CampaignRoom, update: bytes) -> None:
        if update != EMPTY_UPDATE:
            write = room.store_later(update)
            await write.done.wait()
            if write.failed:
                raise ApiError(503, "not_stored", "the change could not be stored; try again")

    async def show_status(self, changed: CampaignStatusChanged) -> None:
        """Show a campaign's new status (and a send-back's reason) in its live document, once
        committed, so that every open editor and campaign list follows it."""
        room = await self.rooms.acquire(changed.campaign_id, changed.workspace_id)
        try:
            async with room.state_lock:
                async with self.database.session(read_only=True) as session:
                    campaign = await session.get(Campaign, changed.campaign_id)
                update = None if campaign is None else show_state(room.doc, campaign)
            if update is not None:
                await self._store(room, update)
        finally:
            await self.rooms.release(room)

    async def write_insight(
        self, campaign_id: uuid.UUID, workspace_id: uuid.UUID, key: str, entry: dict[str, Any]
    ) -> None:
        """Write a server's insight into the live document (insights.py `write`), once stored."""
        room = await self.rooms.acquire(campaign_id, workspace_id)
        try:
            update = insights.write(room.doc, key, entry)
            if update is not None:
                await self._store(room, update)
        finally:
            await self.rooms.release(room)

    # Comments: not content, so any status, and the permission reviewers have too ------------

    async def add_comment(self, principal: Principal, campaign_id: uuid.UUID, data: CommentCreate) -> Comment:
        _check_text(data.text)
        await self.campaign(principal, campaign_id)
        made: list[Comment] = []

        def apply(doc: Doc[Any]) -> None:
            author_id, author_name = _author(principal)
            made.append(comment_thread(doc, data, author_id=author_id, author_name=author_name))

        await self._apply(principal, campaign_id, apply)
        return made[0]

    async def reply(
        self, principal: Principal, campaign_id: uuid.UUID, comment_id: str, data: ReplyCreate
    ) -> Comment:
        _check_text(data.text)
        await self.campaign(principal, campaign_id)
        made: list[Comment] = []

        def apply(doc: Doc[Any]) -> None:
            thread = _thread(doc, comment_id)
            author_id, author_name = _author(principal)
            reply = new_comment(
                reply_to=thread.id, text=data.text, author_id=author_id, author_name=author_name
            )
            made.append(put_comment(doc, reply))

        await self._apply(principal, campaign_id, apply)
        return made[0]

    async def resolve(
        self, principal: Principal, campaign_id: uuid.UUID, comment_id: str, data: CommentResolve
    ) -> Comment:
        await self.campaign(principal, campaign_id)
        made: list[Comment] = []

        def apply(doc: Doc[Any]) -> None:
            thread = _thread(doc, comment_id)
            made.append(put_comment(doc, msgspec.structs.replace(thread, resolved=data.resolved)))

        await self._apply(principal, campaign_id, apply)
        return made[0]

    async def _with_doc(
        self, principal: Principal, campaign_id: uuid.UUID, read: Callable[[Doc[Any]], Any]
    ) -> Any:
        room = await self.rooms.acquire(campaign_id, principal.workspace_id)
        try:
            return read(room.doc)
        finally:
            await self.rooms.release(room)


async def close_rooms_of(rooms: RoomManager, principal_id: uuid.UUID, workspace_id: uuid.UUID) -> None:
    """Whoever lost or changed access leaves their rooms now, and must get a new ticket."""
    closed = await rooms.revoke(principal_id, workspace_id)
    if closed:
        log.info("room_access_revoked", principal=str(principal_id), connections=closed)


def _author(principal: Principal) -> tuple[str, str]:
    return str(principal.user_id), principal.display_name or principal.email or "API key"


def _check_text(words: str) -> None:
    if not words.strip():
        detail = "a comment needs some text"
        raise ApiError(422, "invalid_comment", detail, errors=[FieldError(field="text", message=detail)])


def _thread(doc: Doc[Any], comment_id: str) -> Comment:
    """The thread (a comment that answers none) with this id, or 404."""
    found = next((c for c in comments(doc) if c.id == comment_id and c.reply_to is None), None)
    if found is None:
        raise not_found("comment")
    return found


def comment_thread(doc: Doc[Any], data: CommentCreate, *, author_id: str, author_name: str) -> Comment:
    """A new thread on the body's range that `data` names (offsets or an anchor), or 422."""
    body = text(doc, BODY)
    if data.anchor is not None:
        if data.start is not None or data.end is not None:
            _invalid_range("give either start and end, or anchor")
        start, end = decode_position(body, data.anchor.start), decode_position(body, data.anchor.end)
        if start is None or end is None or start > end:
            _invalid_range("anchor is not a forward range of the body")
        anchor = data.anchor
    else:
        content = str(body)
        if data.start is None or data.end is None or not data.start <= data.end <= len(content):
            _invalid_range(f"start and end must be a forward range of the body's {len(content)} characters")
        start, end = len(content[: data.start].encode()), len(content[: data.end].encode())
        anchor = Anchor(start=encode_position(body, start), end=encode_position(body, end, Assoc.BEFORE))
    return put_comment(
        doc, new_comment(text=data.text, anchor=anchor, author_id=author_id, author_name=author_name)
    )


def _invalid_range(detail: str) -> NoReturn:
    raise ApiError(422, "invalid_range", detail, errors=[FieldError(field="start", message=detail)])


class VersionService:
    def __init__(self, content: ContentService) -> None:
        self.content = content
        self.database = content.database

    async def list(self, principal: Principal, campaign_id: uuid.UUID) -> list[Version]:
        await self.content.campaign(principal, campaign_id)
        async with self.database.session(read_only=True) as session:
            rows = await session.scalars(
                select(DocumentVersion)
                .where(DocumentVersion.campaign_id == campaign_id)
                .order_by(DocumentVersion.created_at.desc())
            )
            return [to_wire(row) for row in rows]

    async def create(
        self, principal: Principal, campaign_id: uuid.UUID, name: str, kind: str = "named"
    ) -> Version:
        await self.content.campaign(principal, campaign_id)
        digest, data = await self.content.freeze(principal, campaign_id)
        row = DocumentVersion(
            campaign_id=campaign_id,
            name=name,
            kind=kind,
            content_hash=digest,
            data=data,
            created_by=principal.user_id,
        )
        async with transaction(self.database) as session:
            session.add(row)
        return to_wire(row)

    async def read(
        self, principal: Principal, campaign_id: uuid.UUID, version_id: uuid.UUID
    ) -> CampaignContent:
        row = await self._row(principal, campaign_id, version_id)
        return materialise(load_document([row.data]), campaign_id)

    async def restore(
        self, principal: Principal, campaign_id: uuid.UUID, version_id: uuid.UUID
    ) -> CampaignContent:
        """Make the document say what the version says, as new edits: history stays."""
        version = load_document([(await self._row(principal, campaign_id, version_id)).data])
        return await self.content.edit(principal, campaign_id, lambda doc: restore(doc, version))

    async def _row(
        self, principal: Principal, campaign_id: uuid.UUID, version_id: uuid.UUID
    ) -> DocumentVersion:
        await self.content.campaign(principal, campaign_id)
        async with self.database.session(read_only=True) as session:
            row = await session.get(DocumentVersion, version_id)
        if row is None or row.campaign_id != campaign_id:
            raise not_found("version")
        return row
