"""The REST bridge and versions: read a campaign's document, change it by a server-side
transaction, freeze and restore versions.

Holds no database transaction of its own while it waits for a room to store a change: the
room's writer needs the write turn (SQLite has one).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from pycrdt import Doc
from sqlalchemy import select

from justmaily.server.campaigns.models import Campaign
from justmaily.server.campaigns.service import CampaignService
from justmaily.server.collaboration.models import DocumentVersion
from justmaily.server.collaboration.rooms import RoomManager
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.principal import Principal
from justmaily.shared.campaigns import EDITABLE_STATUSES
from justmaily.shared.collaboration import EMPTY_UPDATE, TEXT_FIELDS, CampaignContent, ContentPatch, Version
from justmaily.shared.document import (
    content_hash,
    load_document,
    materialise,
    rebase_text,
    replace_text,
    restore,
    text,
)

BRIDGE_ORIGIN = "rest-bridge"


def version_view(row: DocumentVersion) -> Version:
    return Version(
        id=row.id,
        campaign_id=row.campaign_id,
        name=row.name,
        kind=row.kind,
        content_hash=row.content_hash,
        created_by=row.created_by,
        created_at=row.created_at,
    )


class ContentService:
    def __init__(self, database: Database, rooms: RoomManager) -> None:
        self.database = database
        self.rooms = rooms

    async def campaign(self, principal: Principal, campaign_id: uuid.UUID) -> Campaign:
        async with self.database.session(read_only=True) as session:
            return await CampaignService(session).get(principal, campaign_id)

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
            await VersionService(self).create(principal, campaign_id, "Sent to review", kind="review")
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
        campaign = await self.campaign(principal, campaign_id)
        if campaign.status not in EDITABLE_STATUSES:
            raise ApiError(
                409, "not_editable", f"a campaign that is {campaign.status} can no longer be edited"
            )
        room = await self.rooms.acquire(campaign_id, principal.workspace_id)
        try:
            doc = room.doc
            before = doc.get_state()
            with doc.transaction(origin=BRIDGE_ORIGIN):
                apply(doc)
            update = doc.get_update(before)
            if update != EMPTY_UPDATE:
                write = room.store_later(update)
                await write.done.wait()
                if write.failed:
                    raise ApiError(503, "not_stored", "the change could not be stored; try again")
            return materialise(doc, campaign_id)
        finally:
            await self.rooms.release(room)

    async def _with_doc(
        self, principal: Principal, campaign_id: uuid.UUID, read: Callable[[Doc[Any]], Any]
    ) -> Any:
        room = await self.rooms.acquire(campaign_id, principal.workspace_id)
        try:
            return read(room.doc)
        finally:
            await self.rooms.release(room)


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
            return [version_view(row) for row in rows]

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
        return version_view(row)

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
