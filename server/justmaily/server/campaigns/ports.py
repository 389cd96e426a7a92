"""What the campaigns domain needs from a campaign's live document (collaboration provides it)."""

from __future__ import annotations

import uuid
from typing import Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns.models import Campaign
from justmaily.server.identity.principal import Principal
from justmaily.shared.collaboration import CampaignContent, ContentPatch


@runtime_checkable  # Litestar checks injected values against the annotation
class CampaignDocument(Protocol):
    async def write_first(self, session: AsyncSession, campaign: Campaign) -> None:
        """A new campaign's document (its texts and review state, from the row), stored in the
        transaction that creates the row: nobody can have opened its room yet, so none loads."""

    async def change(
        self, principal: Principal, campaign_id: uuid.UUID, patch: ContentPatch
    ) -> CampaignContent:
        """Edit the document (stored before this returns)."""

    async def freeze_for_review(self, principal: Principal, campaign_id: uuid.UUID) -> str:
        """Keep a version of the document as it is now; returns its content hash."""

    async def read(self, principal: Principal, campaign_id: uuid.UUID) -> CampaignContent:
        """The document's content now."""

    async def current_hash(self, principal: Principal, campaign_id: uuid.UUID) -> str:
        """The document's content hash now."""
