"""What was sent to review, as it was then: the content an approval covers and a send sends.

Submitting a campaign keeps a version of its document (kind "review"); an approval approves
exactly that version's hash, and any edit since voids it. So the last review version is the
approved content, read from the database, not from the live room.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.collaboration.models import DocumentVersion
from justmaily.shared.collaboration import CampaignContent
from justmaily.shared.document import load_document, materialise

REVIEW = "review"


async def last_reviewed(session: AsyncSession, campaign_id: uuid.UUID) -> CampaignContent | None:
    """The content as last sent to review (its hash in today's form), or None if never."""
    data = await session.scalar(
        select(DocumentVersion.data)
        .where(DocumentVersion.campaign_id == campaign_id, DocumentVersion.kind == REVIEW)
        .order_by(DocumentVersion.created_at.desc(), DocumentVersion.id.desc())
        .limit(1)
    )
    return None if data is None else materialise(load_document([data]), campaign_id)
