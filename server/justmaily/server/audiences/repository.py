"""Every read and write of personal data (contacts, list membership, suppressions, imports).

Nothing else touches these tables. Addresses are sealed here on write and opened here on read
(`protection/fields.py`, under the workspace's keys reached from the session:
`protection/keyring.py`); `email_key` is the address's blind index. Functions take the caller's
session; the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences.models import (
    Confirmation,
    Contact,
    ContactImport,
    ImportRow,
    ListMember,
    Suppression,
)
from justmaily.server.db.base import utcnow
from justmaily.server.db.dialects import insert_or_ignore
from justmaily.server.protection.fields import address_index, open_text, row_identity, seal_text
from justmaily.server.protection.hierarchy import WorkspaceKeys
from justmaily.server.protection.keyring import workspace_keys
from justmaily.shared.audiences import ConsentStatus, SuppressionReason


@dataclass(frozen=True)
class Recipient:
    """A contact as a message addresses and personalises it."""

    email: str
    name: str
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class RecipientRow:
    contact_id: uuid.UUID
    email_key: str
    recipient: Recipient
    # Why this contact may not be sent to now (consent withdrawn or suppressed), or "".
    blocked: str


async def email_key(session: AsyncSession, workspace_id: uuid.UUID, email: str) -> str:
    """The address's identity in the workspace: its blind index (equal for addresses that differ
    only in case or surrounding space; nothing else can be learnt from it without the key)."""
    return address_index(await workspace_keys(session, workspace_id), email)


async def email_indexer(session: AsyncSession, workspace_id: uuid.UUID) -> Callable[[str], str]:
    """`email_key` as a plain function (for compiling segment filters)."""
    keys = await workspace_keys(session, workspace_id)
    return lambda email: address_index(keys, email)


def _contact_cell(workspace_id: uuid.UUID, contact_id: uuid.UUID) -> bytes:
    return row_identity(workspace_id, "contacts.email", contact_id)


def _suppression_cell(workspace_id: uuid.UUID, key: str) -> bytes:
    return row_identity(workspace_id, "suppressions.email", key)


def _staged_cell(workspace_id: uuid.UUID, import_id: uuid.UUID, key: str) -> bytes:
    return row_identity(workspace_id, "import_rows.email", f"{import_id}/{key}")


def _open_contact(keys: WorkspaceKeys, contact: Contact) -> Contact:
    contact.email = open_text(keys, _contact_cell(contact.workspace_id, contact.id), contact.email_sealed)
    return contact


async def _opened(session: AsyncSession, contacts: Sequence[Contact]) -> list[Contact]:
    """The contacts with their addresses opened (a tampered or moved cell raises SealedFieldError)."""
    for contact in contacts:
        _open_contact(await workspace_keys(session, contact.workspace_id), contact)
    return list(contacts)


async def _opened_one(session: AsyncSession, contact: Contact | None) -> Contact | None:
    return None if contact is None else (await _opened(session, [contact]))[0]


# --- contacts -------------------------------------------------------------------------------


async def contact_by_key(session: AsyncSession, workspace_id: uuid.UUID, key: str) -> Contact | None:
    found: Contact | None = await session.scalar(
        select(Contact).where(Contact.workspace_id == workspace_id, Contact.email_key == key)
    )
    return await _opened_one(session, found)


async def contact_ids_by_key(
    session: AsyncSession, workspace_id: uuid.UUID, keys: Iterable[str]
) -> dict[str, uuid.UUID]:
    """The contacts among `keys` (email keys), by key: one query of ids, no ORM objects."""
    rows = await session.execute(
        select(Contact.email_key, Contact.id).where(
            Contact.workspace_id == workspace_id, Contact.email_key.in_(set(keys))
        )
    )
    return {row.email_key: row.id for row in rows}


async def get_contact(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID, *, for_update: bool = False
) -> Contact | None:
    query = select(Contact).where(Contact.workspace_id == workspace_id, Contact.id == contact_id)
    found: Contact | None = await session.scalar(query.with_for_update() if for_update else query)
    return await _opened_one(session, found)


async def add_contact(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    email: str,
    name: str,
    attributes: dict[str, Any],
    consent: ConsentStatus,
    consent_source: str,
) -> Contact:
    now = utcnow()
    keys = await workspace_keys(session, workspace_id)
    contact_id = uuid.uuid4()
    contact = Contact(
        id=contact_id,
        workspace_id=workspace_id,
        email_sealed=seal_text(keys, _contact_cell(workspace_id, contact_id), email),
        email_key=address_index(keys, email),
        name=name,
        attributes=attributes,
        consent=consent,
        consent_source=consent_source,
        consent_at=now if consent is ConsentStatus.SUBSCRIBED else None,
        created_at=now,
        updated_at=now,
    )
    contact.email = email
    session.add(contact)
    await session.flush()
    return contact


async def list_contacts(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    where: ColumnElement[bool] | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    list_id: uuid.UUID | None = None,
) -> list[Contact]:
    query = _contacts_of(workspace_id, list_id, where)
    if after is not None:
        query = query.where(
            (Contact.created_at > after[0]) | ((Contact.created_at == after[0]) & (Contact.id > after[1]))
        )
    rows = await session.scalars(query.order_by(Contact.created_at, Contact.id).limit(limit))
    return await _opened(session, list(rows))


async def count_contacts(session: AsyncSession, workspace_id: uuid.UUID, where: ColumnElement[bool]) -> int:
    query = select(func.count()).select_from(Contact).where(Contact.workspace_id == workspace_id, where)
    return int(await session.scalar(query) or 0)


async def delete_contact(session: AsyncSession, contact: Contact) -> None:
    """Erase a contact (GDPR). Suppressions stay: they hold no more than the address key."""
    await session.delete(contact)
    await session.flush()


async def set_consent(session: AsyncSession, contact: Contact, consent: ConsentStatus, source: str) -> None:
    contact.consent, contact.consent_source = consent, source
    contact.consent_at = contact.updated_at = utcnow()
    await session.flush()


async def suppression_of(session: AsyncSession, workspace_id: uuid.UUID, key: str) -> Suppression | None:
    found: Suppression | None = await session.get(Suppression, (workspace_id, key))
    return None if found is None else (await _opened_suppressions(session, [found]))[0]


async def _opened_suppressions(session: AsyncSession, rows: Sequence[Suppression]) -> list[Suppression]:
    for row in rows:
        keys = await workspace_keys(session, row.workspace_id)
        row.email = open_text(keys, _suppression_cell(row.workspace_id, row.email_key), row.email_sealed)
    return list(rows)


async def attribute_keys(session: AsyncSession, workspace_id: uuid.UUID) -> set[str]:
    """Every attribute name some contact of the workspace has (the merge fields one may use)."""
    if session.get_bind().dialect.name == "postgresql":
        # A set-returning function in the select list: one row per key of every contact.
        query = select(func.json_object_keys(Contact.attributes))
    else:
        each = func.json_each(Contact.attributes).table_valued("key")
        query = select(each.c.key).select_from(Contact).join(each, true())
    rows = await session.scalars(query.where(Contact.workspace_id == workspace_id).distinct())
    return set(rows)


# --- lists ----------------------------------------------------------------------------------


async def list_sizes(session: AsyncSession, list_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not list_ids:
        return {}
    query = (
        select(ListMember.list_id, func.count())
        .where(ListMember.list_id.in_(list_ids))
        .group_by(ListMember.list_id)
    )
    return {list_id: int(count) for list_id, count in (await session.execute(query)).all()}


async def add_members(session: AsyncSession, list_id: uuid.UUID, contact_ids: Iterable[uuid.UUID]) -> int:
    """Add contacts to a list (already members are left as they are); returns how many were new."""
    wanted = set(contact_ids)
    present = set(
        await session.scalars(
            select(ListMember.contact_id).where(
                ListMember.list_id == list_id, ListMember.contact_id.in_(wanted)
            )
        )
    )
    new = [{"list_id": list_id, "contact_id": c, "added_at": utcnow()} for c in wanted - present]
    if new:
        await session.execute(insert(ListMember), new)
    return len(new)


async def remove_members(session: AsyncSession, list_id: uuid.UUID, contact_ids: Iterable[uuid.UUID]) -> int:
    result = await session.execute(
        delete(ListMember).where(ListMember.list_id == list_id, ListMember.contact_id.in_(set(contact_ids)))
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def workspace_contact_ids(
    session: AsyncSession, workspace_id: uuid.UUID, contact_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of `contact_ids` that belong to the workspace (others are answered as unknown)."""
    rows = await session.scalars(
        select(Contact.id).where(Contact.workspace_id == workspace_id, Contact.id.in_(set(contact_ids)))
    )
    return set(rows)


# --- suppression ----------------------------------------------------------------------------


async def suppress(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    key: str,
    reason: SuppressionReason,
    detail: str = "",
    *,
    address: str | None = None,
) -> None:
    """Never send to this address (`key`: its `email_key`) again; an unsubscribe also withdraws
    the contact's consent. The address is kept sealed to list it: given, or the contact's."""
    keys = await workspace_keys(session, workspace_id)
    if address is None:
        contact = await contact_by_key(session, workspace_id, key)
        address = contact.email if contact is not None else ""
    # Insert-or-keep in one statement: an unsubscribe and a bounce may race on PostgreSQL.
    await session.execute(
        insert_or_ignore(session, Suppression).values(
            workspace_id=workspace_id,
            email_key=key,
            email_sealed=seal_text(keys, _suppression_cell(workspace_id, key), address),
            reason=reason,
            detail=detail[:500],
            created_at=utcnow(),
        )
    )
    if reason in (SuppressionReason.UNSUBSCRIBED, SuppressionReason.COMPLAINED):
        await session.execute(
            update(Contact)
            .where(Contact.workspace_id == workspace_id, Contact.email_key == key)
            .values(consent=ConsentStatus.UNSUBSCRIBED, consent_source=reason.value, consent_at=utcnow())
        )
    await session.flush()


async def unsuppress(session: AsyncSession, workspace_id: uuid.UUID, key: str) -> bool:
    result = await session.execute(
        delete(Suppression).where(Suppression.workspace_id == workspace_id, Suppression.email_key == key)
    )
    return bool(getattr(result, "rowcount", 0))


async def list_suppressions(
    session: AsyncSession, workspace_id: uuid.UUID, *, after: str | None, limit: int
) -> list[Suppression]:
    query = select(Suppression).where(Suppression.workspace_id == workspace_id)
    if after is not None:
        query = query.where(Suppression.email_key > after)
    # In blind index order: an order that says nothing of the addresses.
    rows = await session.scalars(query.order_by(Suppression.email_key).limit(limit))
    return await _opened_suppressions(session, list(rows))


async def suppressed_keys(
    session: AsyncSession, workspace_id: uuid.UUID, keys: Iterable[str]
) -> dict[str, str]:
    rows = await session.execute(
        select(Suppression.email_key, Suppression.reason).where(
            Suppression.workspace_id == workspace_id, Suppression.email_key.in_(set(keys))
        )
    )
    return {key: str(reason) for key, reason in rows.all()}


# --- sending --------------------------------------------------------------------------------


def _sendable(workspace_id: uuid.UUID) -> ColumnElement[bool]:
    suppressed = exists().where(
        Suppression.workspace_id == workspace_id, Suppression.email_key == Contact.email_key
    )
    return and_(Contact.consent == ConsentStatus.SUBSCRIBED, ~suppressed)


def _contacts_of(
    workspace_id: uuid.UUID, list_id: uuid.UUID | None, where: ColumnElement[bool] | None
) -> Select[Any]:
    """Contacts of the workspace, of a list if one is named, matching `where` if given."""
    query = select(Contact).where(Contact.workspace_id == workspace_id)
    if list_id is not None:
        query = query.where(
            exists().where(ListMember.list_id == list_id, ListMember.contact_id == Contact.id)
        )
    return query if where is None else query.where(where)


async def audience_page(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    list_id: uuid.UUID | None,
    where: ColumnElement[bool] | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[uuid.UUID]:
    """The next `limit` sendable contact ids of a list or segment, in id order."""
    query = audience_page_query(workspace_id, list_id=list_id, where=where, after=after, limit=limit)
    return list(await session.scalars(query))


def audience_page_query(
    workspace_id: uuid.UUID,
    *,
    list_id: uuid.UUID | None,
    where: ColumnElement[bool] | None,
    after: uuid.UUID | None,
    limit: int,
) -> Select[Any]:
    query = (
        _contacts_of(workspace_id, list_id, where)
        .with_only_columns(Contact.id)
        .where(_sendable(workspace_id))
    )
    if after is not None:
        query = query.where(Contact.id > after)
    return query.order_by(Contact.id).limit(limit)


async def audience_size(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    list_id: uuid.UUID | None,
    where: ColumnElement[bool] | None,
) -> int:
    """How many contacts `audience_page` would page through."""
    query = (
        _contacts_of(workspace_id, list_id, where)
        .with_only_columns(func.count())
        .where(_sendable(workspace_id))
    )
    return int(await session.scalar(query) or 0)


async def recipients(
    session: AsyncSession, workspace_id: uuid.UUID, contact_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, RecipientRow]:
    """Who the messages go to, checked against consent and suppression at this moment."""
    suppressed = (
        select(Suppression.reason)
        .where(Suppression.workspace_id == workspace_id, Suppression.email_key == Contact.email_key)
        .scalar_subquery()
    )
    keys = await workspace_keys(session, workspace_id)
    query = select(
        Contact.id,
        Contact.email_sealed,
        Contact.email_key,
        Contact.name,
        Contact.attributes,
        Contact.consent,
        suppressed,
    ).where(Contact.workspace_id == workspace_id, Contact.id.in_(set(contact_ids)))
    found = {}
    for contact_id, sealed, key, name, attributes, consent, reason in (await session.execute(query)).all():
        email = open_text(keys, _contact_cell(workspace_id, contact_id), sealed)
        blocked = f"suppressed: {reason}" if reason else ""
        if not blocked and consent is not ConsentStatus.SUBSCRIBED:
            blocked = f"consent is {consent}"
        found[contact_id] = RecipientRow(contact_id, key, Recipient(email, name, attributes or {}), blocked)
    return found


async def sample_recipient(
    session: AsyncSession, workspace_id: uuid.UUID, contact_ids: Sequence[uuid.UUID]
) -> Recipient | None:
    rows = await recipients(session, workspace_id, contact_ids[:1])
    return next(iter(rows.values())).recipient if rows else None


# --- imports --------------------------------------------------------------------------------


async def stage_rows(
    session: AsyncSession, workspace_id: uuid.UUID, import_id: uuid.UUID, rows: Sequence[dict[str, Any]]
) -> None:
    """Stage valid rows (`email`, `email_key` as read: the lower-cased address, `name`,
    `attributes`, `row_number`): stored with the address sealed and keyed by its blind index."""
    if not rows:
        return
    keys = await workspace_keys(session, workspace_id)
    staged = []
    for row in rows:
        plain = dict(row)
        email, key = plain.pop("email"), address_index(keys, plain.pop("email_key"))
        sealed = seal_text(keys, _staged_cell(workspace_id, import_id, key), email)
        staged.append({**plain, "import_id": import_id, "email_key": key, "email_sealed": sealed})
    await session.execute(insert(ImportRow), staged)


async def merge_import(session: AsyncSession, job: ContactImport) -> tuple[int, int]:
    """Merge the staged rows into contacts in this transaction; returns (created, updated).

    New addresses become subscribed contacts with the import's consent source. Known ones get
    the name (when given) and attributes of the file; their consent is left as it is, so an
    import never re-subscribes someone who unsubscribed.
    """
    created = updated = 0
    now = utcnow()
    keys = await workspace_keys(session, job.workspace_id)
    last_key = ""
    while True:
        staged = list(
            await session.scalars(
                select(ImportRow)
                .where(ImportRow.import_id == job.id, ImportRow.email_key > last_key)
                .order_by(ImportRow.email_key)
                .limit(1000)
            )
        )
        if not staged:
            break
        last_key = staged[-1].email_key
        existing = {
            c.email_key: c
            for c in await session.scalars(
                select(Contact).where(
                    Contact.workspace_id == job.workspace_id,
                    Contact.email_key.in_([row.email_key for row in staged]),
                )
            )
        }
        fresh: list[dict[str, Any]] = []
        for row in staged:
            contact = existing.get(row.email_key)
            if contact is None:
                contact_id = uuid.uuid4()
                email = open_text(
                    keys, _staged_cell(job.workspace_id, job.id, row.email_key), row.email_sealed
                )
                fresh.append(
                    {
                        "id": contact_id,
                        "workspace_id": job.workspace_id,
                        "email_sealed": seal_text(keys, _contact_cell(job.workspace_id, contact_id), email),
                        "email_key": row.email_key,
                        "name": row.name,
                        "attributes": row.attributes,
                        "consent": ConsentStatus.SUBSCRIBED,
                        "consent_source": job.consent_source,
                        "consent_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                continue
            contact.attributes = {**(contact.attributes or {}), **row.attributes}
            contact.name = row.name or contact.name
            contact.updated_at = now
            updated += 1
        if fresh:
            await session.execute(insert(Contact), fresh)
            created += len(fresh)
        if job.list_id is not None:
            ids = [row["id"] for row in fresh] + [
                existing[r.email_key].id for r in staged if r.email_key in existing
            ]
            await add_members(session, job.list_id, ids)
        await session.flush()
    await session.execute(delete(ImportRow).where(ImportRow.import_id == job.id))
    return created, updated


async def discard_staged(session: AsyncSession, import_id: uuid.UUID) -> None:
    await session.execute(delete(ImportRow).where(ImportRow.import_id == import_id))


async def export_contacts(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    list_id: uuid.UUID | None,
    where: ColumnElement[bool] | None,
    batch: int = 1000,
) -> AsyncIterator[list[Contact]]:
    """Contacts of a list, a segment or the workspace, in batches (never all in memory)."""
    after: uuid.UUID | None = None
    while True:
        query = _contacts_of(workspace_id, list_id, where)
        if after is not None:
            query = query.where(Contact.id > after)
        rows = list(await session.scalars(query.order_by(Contact.id).limit(batch)))
        if not rows:
            return
        yield await _opened(session, rows)
        after = rows[-1].id


# --- double opt-in -------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingConfirmation:
    id: uuid.UUID
    workspace_id: uuid.UUID
    attempts: int
    recipient: Recipient


async def request_confirmation(session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> None:
    session.add(Confirmation(workspace_id=workspace_id, contact_id=contact_id))
    await session.flush()


async def due_confirmations(session: AsyncSession, now: datetime, limit: int) -> list[PendingConfirmation]:
    """Confirmation e-mails to send now, for contacts still pending."""
    rows = await session.execute(
        select(
            Confirmation.id,
            Confirmation.workspace_id,
            Confirmation.attempts,
            Contact.id,
            Contact.email_sealed,
            Contact.name,
        )
        .join(Contact, Contact.id == Confirmation.contact_id)
        .where(
            Confirmation.sent_at.is_(None),
            Confirmation.next_attempt_at <= now,
            Contact.consent == ConsentStatus.PENDING,
        )
        .order_by(Confirmation.next_attempt_at)
        .limit(limit)
    )
    pending = []
    for id_, workspace_id, attempts, contact_id, sealed, name in rows.all():
        keys = await workspace_keys(session, workspace_id)
        email = open_text(keys, _contact_cell(workspace_id, contact_id), sealed)
        pending.append(PendingConfirmation(id_, workspace_id, attempts, Recipient(email, name, {})))
    return pending


async def confirmation_sent(session: AsyncSession, confirmation_id: uuid.UUID, when: datetime) -> None:
    await session.execute(
        update(Confirmation).where(Confirmation.id == confirmation_id).values(sent_at=when, last_error="")
    )


async def confirmation_failed(
    session: AsyncSession, confirmation_id: uuid.UUID, retry_at: datetime, error: str
) -> None:
    await session.execute(
        update(Confirmation)
        .where(Confirmation.id == confirmation_id)
        .values(attempts=Confirmation.attempts + 1, next_attempt_at=retry_at, last_error=error[:500])
    )


async def confirmation_contact(session: AsyncSession, confirmation_id: uuid.UUID) -> Contact | None:
    found: Contact | None = await session.scalar(
        select(Contact)
        .join(Confirmation, Confirmation.contact_id == Contact.id)
        .where(Confirmation.id == confirmation_id)
    )
    return await _opened_one(session, found)


@dataclass(frozen=True)
class ConfirmationLink:
    """What a confirmation link's page needs to know about it."""

    workspace_id: uuid.UUID
    contact: Contact
    issued_at: datetime  # when its e-mail went out (when it was asked for, if that is not recorded)
    superseded: bool  # a newer confirmation was asked for since


async def confirmation_link(session: AsyncSession, confirmation_id: uuid.UUID) -> ConfirmationLink | None:
    confirmation = await session.get(Confirmation, confirmation_id)
    contact = await confirmation_contact(session, confirmation_id)
    if confirmation is None or contact is None:
        return None
    newer = await session.scalar(
        select(Confirmation.id)
        .where(Confirmation.contact_id == contact.id, Confirmation.created_at > confirmation.created_at)
        .limit(1)
    )
    return ConfirmationLink(
        workspace_id=confirmation.workspace_id,
        contact=contact,
        issued_at=confirmation.sent_at or confirmation.created_at,
        superseded=newer is not None,
    )


async def confirm(session: AsyncSession, confirmation_id: uuid.UUID) -> bool:
    """The person confirmed: a pending contact becomes subscribed. False if nothing was pending.

    A contact who unsubscribed since stays unsubscribed: an old link does not undo that.
    """
    confirmation = await session.get(Confirmation, confirmation_id)
    contact = await confirmation_contact(session, confirmation_id)
    if confirmation is None or contact is None or contact.consent is not ConsentStatus.PENDING:
        return False
    confirmation.confirmed_at = utcnow()
    await set_consent(session, contact, ConsentStatus.SUBSCRIBED, "double opt-in")
    return True
