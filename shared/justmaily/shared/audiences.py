"""Audiences on the wire: contacts, lists, segments, consent, suppression and imports."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec


class ConsentStatus(enum.StrEnum):
    PENDING = "pending"  # asked to confirm (double opt-in); never sent campaigns
    SUBSCRIBED = "subscribed"  # confirmed, or imported with consent recorded at its source
    UNSUBSCRIBED = "unsubscribed"


class SuppressionReason(enum.StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    MANUAL = "manual"


class ImportStatus(enum.StrEnum):
    WAITING = "waiting"  # created, file not yet uploaded
    READING = "reading"  # rows streaming in and being validated
    DONE = "done"  # merged into contacts
    FAILED = "failed"  # the file as a whole was refused; nothing was merged


ListName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Newsletter"])]
PersonName = Annotated[str, msgspec.Meta(max_length=200, examples=["Ada Lovelace"])]
Address = Annotated[str, msgspec.Meta(min_length=3, max_length=320, examples=["ada@example.com"])]
Attributes = Annotated[
    dict[str, str | int | float | bool | None],
    msgspec.Meta(examples=[{"plan": "pro", "country": "DE", "seats": 12}]),
]
SegmentFilter = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=4000,
        examples=['country = "DE" and in list "Newsletter" and opened within 30 days'],
    ),
]


class ContactCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    email: Address
    name: PersonName = ""
    attributes: Attributes = msgspec.field(default_factory=dict)
    # `pending` sends a confirmation link (double opt-in); `subscribed` records consent given
    # elsewhere, and `consent_source` says where (e.g. "signup form 2026-03").
    consent: ConsentStatus = ConsentStatus.PENDING
    consent_source: Annotated[str, msgspec.Meta(max_length=200)] = "api"
    lists: list[UUID] = msgspec.field(default_factory=list)


class ContactUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: PersonName | msgspec.UnsetType = msgspec.UNSET
    attributes: Attributes | msgspec.UnsetType = msgspec.UNSET


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    email: str
    name: str
    attributes: dict[str, Any]
    consent: ConsentStatus
    consent_source: str
    consent_at: datetime | None
    suppressed: SuppressionReason | None
    created_at: datetime
    updated_at: datetime


class ContactListCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: ListName


class ContactList(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    members: int
    created_at: datetime


class ListMembersChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    contact_ids: Annotated[list[UUID], msgspec.Meta(min_length=1, max_length=10_000)]


class SegmentCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: ListName
    filter: SegmentFilter


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    filter: str
    created_at: datetime
    updated_at: datetime


class SegmentPreview(msgspec.Struct, frozen=True, kw_only=True):
    """How many contacts a filter matches now, and the first few."""

    count: int
    sample: list[Contact]


class SuppressionCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    email: Address
    reason: SuppressionReason = SuppressionReason.MANUAL
    detail: Annotated[str, msgspec.Meta(max_length=500)] = ""


class Suppression(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    reason: SuppressionReason
    detail: str
    created_at: datetime


class ImportCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Where the consent of these contacts was given: imported contacts are `subscribed`.
    consent_source: Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["fair 2026 form"])]
    list_id: UUID | None = None


class RowRejection(msgspec.Struct, frozen=True, kw_only=True):
    row: int  # 1-based line of the CSV record, the header being row 1
    reason: str


class ContactImport(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    status: ImportStatus
    list_id: UUID | None
    rows_read: int
    rows_valid: int
    rows_rejected: int
    rows_duplicate: int
    contacts_created: int
    contacts_updated: int
    rejections: list[RowRejection]  # the first 1,000
    error: str
    created_at: datetime
    finished_at: datetime | None
