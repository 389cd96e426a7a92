"""What the other domains put on the record: approvals (and, with them, certificates)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns.models import Campaign
from justmaily.server.trust import log as trust_log
from justmaily.shared.trust import EntryKind


async def record_approval(session: AsyncSession, campaign: Campaign) -> int:
    """Append the approval of `campaign` (just approved, in this transaction); returns its index.

    People are named by id only: the log is append-only and must not hold personal data that
    a deletion request would need to remove."""
    assert campaign.approved_by is not None
    assert campaign.approved_at is not None
    data = {
        "workspace_id": campaign.workspace_id,
        "campaign_id": campaign.id,
        "revision": campaign.revision,
        "content_hash": campaign.approved_hash,
        "approvers": [campaign.approved_by],
        "approved_at": campaign.approved_at,
    }
    return await trust_log.append(
        session, trust_log.Record(EntryKind.APPROVAL, data, workspace_id=campaign.workspace_id)
    )
