"""The REST bridge: read a campaign's document as JSON, change it by a server-side transaction."""

from __future__ import annotations

import uuid

import msgspec

from justmaily.server.campaigns.models import Campaign
from justmaily.server.campaigns.service import CampaignService
from justmaily.server.collaboration.document import materialise, rebase_text, replace_text, text
from justmaily.server.collaboration.rooms import RoomManager
from justmaily.server.collaboration.store import EMPTY_UPDATE
from justmaily.server.db.engine import Database
from justmaily.server.http.problems import ApiError
from justmaily.server.identity.principal import Principal
from justmaily.shared.campaigns import EDITABLE_STATUSES
from justmaily.shared.collaboration import TEXT_FIELDS, CampaignContent, ContentPatch
from justmaily.shared.problems import FieldError

BRIDGE_ORIGIN = "rest-bridge"


class ContentService:
    """Holds no database transaction of its own while it waits for the room to store a change:
    the room's writer needs the write turn (SQLite has one)."""

    def __init__(self, database: Database, rooms: RoomManager) -> None:
        self.database = database
        self.rooms = rooms

    async def _campaign(self, principal: Principal, campaign_id: uuid.UUID) -> Campaign:
        async with self.database.session(read_only=True) as session:
            return await CampaignService(session).get(principal, campaign_id)

    async def read(self, principal: Principal, campaign_id: uuid.UUID) -> CampaignContent:
        await self._campaign(principal, campaign_id)
        room = await self.rooms.acquire(campaign_id, principal.workspace_id)
        try:
            return materialise(room.doc, campaign_id)
        finally:
            await self.rooms.release(room)

    async def change(
        self, principal: Principal, campaign_id: uuid.UUID, patch: ContentPatch
    ) -> CampaignContent:
        """Apply the patch in one transaction of the live document; answer once it is stored."""
        unknown = sorted(set(patch.base) - set(TEXT_FIELDS))
        if unknown:
            detail = f"base names texts the document does not have: {', '.join(unknown)}"
            raise ApiError(422, "invalid_base", detail, errors=[FieldError(field="base", message=detail)])
        campaign = await self._campaign(principal, campaign_id)
        if campaign.status not in EDITABLE_STATUSES:
            raise ApiError(
                409, "not_editable", f"a campaign that is {campaign.status} can no longer be edited"
            )
        room = await self.rooms.acquire(campaign_id, principal.workspace_id)
        try:
            doc = room.doc
            before = doc.get_state()
            with doc.transaction(origin=BRIDGE_ORIGIN):
                for name in TEXT_FIELDS:
                    value = getattr(patch, name)
                    if value is msgspec.UNSET:
                        continue
                    if name in patch.base:
                        rebase_text(text(doc, name), patch.base[name], value)
                    else:
                        replace_text(text(doc, name), value)
            update = doc.get_update(before)
            if update != EMPTY_UPDATE:
                write = room.store_later(update)
                await write.done.wait()
                if write.failed:
                    raise ApiError(503, "not_stored", "the change could not be stored; try again")
            return materialise(doc, campaign_id)
        finally:
            await self.rooms.release(room)
