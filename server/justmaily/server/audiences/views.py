"""`to_wire`: the audiences domain's rows as the API answers them (shared/audiences.py)."""

from __future__ import annotations

from typing import overload

from justmaily.server.audiences.models import Contact, ContactImport, ContactList, Segment, Suppression
from justmaily.shared import audiences as wire

Row = Contact | ContactList | Segment | Suppression | ContactImport
Wire = wire.Contact | wire.ContactList | wire.Segment | wire.Suppression | wire.ContactImport


@overload
def to_wire(row: Contact, *, suppressed: wire.SuppressionReason | None = None) -> wire.Contact: ...
@overload
def to_wire(row: ContactList, *, members: int) -> wire.ContactList: ...
@overload
def to_wire(row: Segment) -> wire.Segment: ...
@overload
def to_wire(row: Suppression) -> wire.Suppression: ...
@overload
def to_wire(row: ContactImport) -> wire.ContactImport: ...
def to_wire(row: Row, *, suppressed: wire.SuppressionReason | None = None, members: int = 0) -> Wire:
    """`suppressed`: why the contact's address is suppressed, if it is; `members`: the list's size."""
    if isinstance(row, Contact):
        return wire.Contact(
            id=row.id,
            email=row.email,
            name=row.name,
            attributes=dict(row.attributes or {}),
            consent=row.consent,
            consent_source=row.consent_source,
            consent_at=row.consent_at,
            suppressed=suppressed,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
    if isinstance(row, ContactList):
        return wire.ContactList(id=row.id, name=row.name, members=members, created_at=row.created_at)
    if isinstance(row, Segment):
        return wire.Segment(
            id=row.id, name=row.name, filter=row.filter, created_at=row.created_at, updated_at=row.updated_at
        )
    if isinstance(row, Suppression):
        return wire.Suppression(
            email=row.email, reason=row.reason, detail=row.detail, created_at=row.created_at
        )
    return wire.ContactImport(
        id=row.id,
        status=row.status,
        list_id=row.list_id,
        rows_read=row.rows_read,
        rows_valid=row.rows_valid,
        rows_rejected=row.rows_rejected,
        rows_duplicate=row.rows_duplicate,
        contacts_created=row.contacts_created,
        contacts_updated=row.contacts_updated,
        rejections=[wire.RowRejection(row=r["row"], reason=r["reason"]) for r in row.rejections],
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )
