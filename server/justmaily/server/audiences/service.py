"""Rules of the audiences domain: contacts, lists, segments and suppressions of one workspace."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from email_validator import EmailNotValidError
from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences import repository
from justmaily.server.audiences.csv_io import normalise_address
from justmaily.server.audiences.models import Contact, ContactList, Segment
from justmaily.server.audiences.segments import SegmentError, compile_filter, parse, referenced_lists
from justmaily.server.audiences.views import to_wire
from justmaily.server.db.base import utcnow
from justmaily.server.http.pagination import decode_cursor, encode_cursor
from justmaily.server.http.problems import ApiError, not_found
from justmaily.shared import audiences as wire
from justmaily.shared.pagination import Page
from justmaily.shared.problems import FieldError


def normalised_address(email: str, field: str = "email") -> str:
    """The address as contacts store it (csv_io's normalisation: one form for API and imports)."""
    try:
        return normalise_address(email)
    except EmailNotValidError as exc:
        raise ApiError(
            422,
            "invalid_email",
            f"{email!r} is not a valid address: {exc}",
            errors=[FieldError(field=field, message=str(exc))],
        ) from None


async def filter_where(
    session: AsyncSession, workspace_id: uuid.UUID, text: str, now: datetime, field: str = "filter"
) -> ColumnElement[bool]:
    """Compile a segment filter, answering 422 with where it went wrong."""
    try:
        parsed = parse(text)
        names = referenced_lists(parsed)
        lists = {}
        if names:
            rows = await session.execute(
                select(ContactList.name, ContactList.id).where(
                    ContactList.workspace_id == workspace_id, ContactList.name.in_(names)
                )
            )
            lists = dict(rows.all())
        indexer = await repository.email_indexer(session, workspace_id)
        return compile_filter(parsed, workspace_id, now, lists, indexer)
    except SegmentError as exc:
        raise ApiError(
            422, "invalid_filter", str(exc), errors=[FieldError(field=field, message=str(exc))]
        ) from None


async def segment_where(
    session: AsyncSession, workspace_id: uuid.UUID, segment_id: uuid.UUID, now: datetime
) -> ColumnElement[bool]:
    segment = await session.get(Segment, segment_id)
    if segment is None or segment.workspace_id != workspace_id:
        raise not_found("segment")
    return await filter_where(session, workspace_id, segment.filter, now)


class AudienceService:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.session, self.workspace_id = session, workspace_id

    # --- contacts -------------------------------------------------------------------------

    async def create_contact(self, data: wire.ContactCreate) -> wire.Contact:
        email = normalised_address(data.email)
        key = await repository.email_key(self.session, self.workspace_id, email)
        if await repository.contact_by_key(self.session, self.workspace_id, key):
            raise ApiError(409, "contact_exists", f"a contact with the address {email} exists already")
        lists = await self._own_lists(data.lists)
        contact = await repository.add_contact(
            self.session,
            self.workspace_id,
            email=email,
            name=data.name,
            attributes=dict(data.attributes),
            consent=data.consent,
            consent_source=data.consent_source,
        )
        for list_id in lists:
            await repository.add_members(self.session, list_id, [contact.id])
        if contact.consent is wire.ConsentStatus.PENDING:
            # Double opt-in: the sender e-mails a confirmation link (docs/audiences.md).
            await repository.request_confirmation(self.session, self.workspace_id, contact.id)
        return await self._with_suppression(contact)

    async def contact(self, contact_id: uuid.UUID, *, for_update: bool = False) -> Contact:
        contact = await repository.get_contact(
            self.session, self.workspace_id, contact_id, for_update=for_update
        )
        if contact is None:
            raise not_found("contact")
        return contact

    async def read_contact(self, contact_id: uuid.UUID) -> wire.Contact:
        return await self._with_suppression(await self.contact(contact_id))

    async def _with_suppression(self, contact: Contact) -> wire.Contact:
        suppression = await repository.suppression_of(self.session, self.workspace_id, contact.email_key)
        return to_wire(contact, suppressed=suppression.reason if suppression else None)

    async def update_contact(self, contact_id: uuid.UUID, data: wire.ContactUpdate) -> wire.Contact:
        contact = await self.contact(contact_id, for_update=True)
        if data.name is not msgspec.UNSET:
            contact.name = data.name
        if data.attributes is not msgspec.UNSET:
            # null removes an attribute; other values replace it
            merged: dict[str, Any] = {**(contact.attributes or {}), **data.attributes}
            contact.attributes = {k: v for k, v in merged.items() if v is not None}
        contact.updated_at = utcnow()
        await self.session.flush()
        return await self._with_suppression(contact)

    async def delete_contact(self, contact_id: uuid.UUID) -> None:
        await repository.delete_contact(self.session, await self.contact(contact_id))

    async def list_contacts(
        self, *, limit: int, cursor: str | None, list_id: uuid.UUID | None, filter_text: str | None
    ) -> Page[wire.Contact]:
        where = None
        if filter_text:
            where = await filter_where(self.session, self.workspace_id, filter_text, utcnow(), "filter")
        if list_id is not None:
            await self._own_lists([list_id])
        after = None
        if cursor:
            decoded = decode_cursor(cursor)
            after = (decoded.created_at, decoded.id)
        rows = await repository.list_contacts(
            self.session, self.workspace_id, where=where, after=after, limit=limit + 1, list_id=list_id
        )
        keys = await repository.suppressed_keys(self.session, self.workspace_id, [c.email_key for c in rows])
        items = [
            to_wire(c, suppressed=wire.SuppressionReason(keys[c.email_key]) if c.email_key in keys else None)
            for c in rows[:limit]
        ]
        next_cursor = (
            encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
        )
        return Page(items=items, next_cursor=next_cursor)

    # --- lists ----------------------------------------------------------------------------

    async def create_list(self, data: wire.ContactListCreate) -> wire.ContactList:
        contact_list = ContactList(workspace_id=self.workspace_id, name=data.name)
        self.session.add(contact_list)
        try:
            await self.session.flush()
        except IntegrityError:
            raise ApiError(409, "list_exists", f"a list named {data.name!r} exists already") from None
        return to_wire(contact_list, members=0)

    async def lists(self) -> list[wire.ContactList]:
        rows = list(
            await self.session.scalars(
                select(ContactList)
                .where(ContactList.workspace_id == self.workspace_id)
                .order_by(ContactList.name)
            )
        )
        sizes = await repository.list_sizes(self.session, [row.id for row in rows])
        return [to_wire(row, members=sizes.get(row.id, 0)) for row in rows]

    async def contact_list(self, list_id: uuid.UUID) -> ContactList:
        row = await self.session.get(ContactList, list_id)
        if row is None or row.workspace_id != self.workspace_id:
            raise not_found("list")
        return row

    async def delete_list(self, list_id: uuid.UUID) -> None:
        await self.session.delete(await self.contact_list(list_id))
        await self.session.flush()

    async def add_members(self, list_id: uuid.UUID, contact_ids: list[uuid.UUID]) -> int:
        await self.contact_list(list_id)
        await self._own_contacts(contact_ids)
        return await repository.add_members(self.session, list_id, contact_ids)

    async def remove_members(self, list_id: uuid.UUID, contact_ids: list[uuid.UUID]) -> int:
        await self.contact_list(list_id)
        return await repository.remove_members(self.session, list_id, contact_ids)

    async def _own_lists(self, list_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        for list_id in list_ids:
            await self.contact_list(list_id)
        return list_ids

    async def _own_contacts(self, contact_ids: list[uuid.UUID]) -> None:
        known = await repository.workspace_contact_ids(self.session, self.workspace_id, contact_ids)
        unknown = [str(c) for c in contact_ids if c not in known]
        if unknown:
            raise ApiError(
                422,
                "unknown_contacts",
                f"{len(unknown)} contact id(s) are not contacts of this workspace: {', '.join(unknown[:5])}",
                errors=[FieldError(field="contact_ids", message="unknown contact ids")],
            )

    # --- segments -------------------------------------------------------------------------

    async def create_segment(self, data: wire.SegmentCreate) -> wire.Segment:
        await filter_where(self.session, self.workspace_id, data.filter, utcnow())
        segment = Segment(workspace_id=self.workspace_id, name=data.name, filter=data.filter)
        self.session.add(segment)
        try:
            await self.session.flush()
        except IntegrityError:
            raise ApiError(409, "segment_exists", f"a segment named {data.name!r} exists already") from None
        return to_wire(segment)

    async def segments(self) -> list[wire.Segment]:
        rows = await self.session.scalars(
            select(Segment).where(Segment.workspace_id == self.workspace_id).order_by(Segment.name)
        )
        return [to_wire(row) for row in rows]

    async def segment(self, segment_id: uuid.UUID) -> Segment:
        row = await self.session.get(Segment, segment_id)
        if row is None or row.workspace_id != self.workspace_id:
            raise not_found("segment")
        return row

    async def delete_segment(self, segment_id: uuid.UUID) -> None:
        await self.session.delete(await self.segment(segment_id))
        await self.session.flush()

    async def preview_segment(self, segment_id: uuid.UUID) -> wire.SegmentPreview:
        return await self.preview((await self.segment(segment_id)).filter)

    async def preview(self, filter_text: str, sample: int = 10) -> wire.SegmentPreview:
        where = await filter_where(self.session, self.workspace_id, filter_text, utcnow())
        count = await repository.count_contacts(self.session, self.workspace_id, where)
        rows = await repository.list_contacts(
            self.session, self.workspace_id, where=where, after=None, limit=sample
        )
        return wire.SegmentPreview(count=count, sample=[to_wire(row) for row in rows])

    # --- suppressions ---------------------------------------------------------------------

    async def suppress(self, data: wire.SuppressionCreate) -> wire.Suppression:
        address = normalised_address(data.email)
        key = await repository.email_key(self.session, self.workspace_id, address)
        await repository.suppress(
            self.session, self.workspace_id, key, data.reason, data.detail, address=address
        )
        row = await repository.suppression_of(self.session, self.workspace_id, key)
        assert row is not None
        return to_wire(row)

    async def unsuppress(self, email: str) -> None:
        key = await repository.email_key(self.session, self.workspace_id, email)
        if not await repository.unsuppress(self.session, self.workspace_id, key):
            raise not_found("suppression")

    async def suppressions(self, *, limit: int, cursor: str | None) -> Page[wire.Suppression]:
        """In blind index order (an order that says nothing of the addresses, which are sealed);
        the cursor is the last index of the previous page."""
        rows = await repository.list_suppressions(
            self.session, self.workspace_id, after=cursor, limit=limit + 1
        )
        items = [to_wire(row) for row in rows[:limit]]
        return Page(items=items, next_cursor=rows[limit - 1].email_key if len(rows) > limit else None)
