"""Worked examples for the OpenAPI document of the audiences domain."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from justmaily.shared import audiences as wire
from justmaily.shared.pagination import Page

_AT = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)

CONTACT = wire.Contact(
    id=UUID("3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"),
    email="ada@example.com",
    name="Ada Lovelace",
    attributes={"plan": "pro", "country": "GB"},
    consent=wire.ConsentStatus.SUBSCRIBED,
    consent_source="signup form",
    consent_at=_AT,
    suppressed=None,
    created_at=_AT,
    updated_at=_AT,
)
CONTACT_PAGE = Page(items=[CONTACT], next_cursor=None)
LIST = wire.ContactList(
    id=UUID("7c6b5a49-3827-4165-9f8e-7d6c5b4a3928"), name="Newsletter", members=1520, created_at=_AT
)
SEGMENT = wire.Segment(
    id=UUID("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"),
    name="German pros",
    filter='country = "DE" and plan = "pro"',
    created_at=_AT,
    updated_at=_AT,
)
PREVIEW = wire.SegmentPreview(count=1, sample=[CONTACT])
SUPPRESSION = wire.Suppression(
    email="gone@example.com",
    reason=wire.SuppressionReason.BOUNCED,
    detail="550 5.1.1 no such user",
    created_at=_AT,
)
SUPPRESSION_PAGE = Page(items=[SUPPRESSION], next_cursor=None)
IMPORT = wire.ContactImport(
    id=UUID("5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716"),
    status=wire.ImportStatus.DONE,
    list_id=LIST.id,
    rows_read=1000,
    rows_valid=997,
    rows_rejected=2,
    rows_duplicate=1,
    contacts_created=990,
    contacts_updated=7,
    rejections=[wire.RowRejection(row=14, reason='"bob@" is not a valid address')],
    error="",
    created_at=_AT,
    finished_at=_AT,
)
