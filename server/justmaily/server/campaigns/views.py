"""`to_wire`: a campaign row as the API answers it (shared/campaigns.py)."""

from __future__ import annotations

from justmaily.server.campaigns.models import Campaign
from justmaily.shared import campaigns as wire


def to_wire(row: Campaign) -> wire.Campaign:
    return wire.Campaign(
        id=row.id,
        name=row.name,
        subject=row.subject,
        preheader=row.preheader,
        sender=row.sender,
        status=row.status,
        owner_id=row.owner_id,
        revision=row.revision,
        created_at=row.created_at,
        updated_at=row.updated_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        scheduled_at=row.scheduled_at,
        archived_at=row.archived_at,
        review_hash=row.review_hash,
        approved_hash=row.approved_hash,
        sent_back_reason=row.sent_back_reason,
        sent_back_by=row.sent_back_by,
        sent_back_at=row.sent_back_at,
    )
