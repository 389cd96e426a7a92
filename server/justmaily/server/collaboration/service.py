"""The REST bridge: read a campaign's document as JSON, change it by a server-side transaction."""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns.service import CampaignService
from justmaily.server.collaboration.document import materialise, replace_text, text
from justmaily.server.collaboration.rooms import RoomManager
from justmaily.server.collaboration.store import EMPTY_UPDATE
from justmaily.server.http.problems import ApiError
from justmaily.server.identity.principal import Principal
from justmaily.shared.campaigns import EDITABLE_STATUSES
from justmaily.shared.collaboration import TEXT_FIELDS, CampaignContent, ContentPatch

BRIDGE_ORIGIN = "rest-bridge"


class ContentService:
    def __init__(self, session: AsyncSession, rooms: RoomManager) -> None:
        self.campaigns = CampaignService(session)
        self.rooms = rooms

    async def read(self, principal: Principal, campaign_id: uuid.UUID) -> CampaignContent:
        await self.campaigns.get(principal, campaign_id)
        room = await self.rooms.acquire(campaign_id, principal.workspace_id)
        try:
            return materialise(room.doc, campaign_id)
        finally:
            await self.rooms.release(room)

    async def change(
        self, principal: Principal, campaign_id: uuid.UUID, patch: ContentPatch
    ) -> CampaignContent:
        """Apply the patch in one transaction of the live document; answer once it is stored."""
        campaign = await self.campaigns.get(principal, campaign_id)
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
                    if value is not msgspec.UNSET:
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
