"""`to_wire`: a campaign row as the API answers it (shared/campaigns.py); `WIRE_COLUMNS` and
`listed`: the same from plain columns, for listings that build no ORM entities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import InstrumentedAttribute

from justmaily.server.campaigns.models import Campaign
from justmaily.shared import campaigns as wire

# Every field of the wire's Campaign is the column of the same name, in the Struct's order.
WIRE_COLUMNS: tuple[InstrumentedAttribute[Any], ...] = tuple(
    getattr(Campaign, name) for name in wire.Campaign.__struct_fields__
)


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


def listed(row: Sequence[Any]) -> wire.Campaign:
    """A row of `select(*WIRE_COLUMNS)` as the API answers it."""
    return wire.Campaign(**dict(zip(wire.Campaign.__struct_fields__, row, strict=True)))
