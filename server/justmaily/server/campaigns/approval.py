"""What voiding an approval means, wherever it happens (an edit, a move back to draft)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns.models import Campaign
from justmaily.server.delivery.withdrawal import cancel_unstarted_sends
from justmaily.server.trust.certificates import revoke_campaign


async def void_approval(session: AsyncSession, campaign: Campaign, why: str) -> None:
    """The approval no longer stands: its certificate is revoked (and logged), and any send
    that has not started is cancelled, so what goes out is only ever what is approved now."""
    if campaign.approved_hash is not None:
        await revoke_campaign(session, campaign.id)
    await cancel_unstarted_sends(session, campaign.id, alert=f"cancelled: {why}; approve and send again")
    campaign.approved_by = campaign.approved_at = campaign.scheduled_at = None
    campaign.approved_hash = None
