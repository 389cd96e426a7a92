"""Events from other platforms' exports into message_events, all of a file or nothing.

A file is read whole by its format's reader (imports/); a row it cannot read refuses the whole
file with the row-by-row report (422), and nothing is written. Otherwise, in one transaction:
each campaign the file names becomes an `ImportedCampaign` (found again by its name on a later
import), each event whose address matches a contact becomes a message event (source=import)
whose `external_id` is a digest of (platform, campaign, contact, kind, time) -- so importing the
same file twice, or a row twice, adds nothing -- and rows whose address is no contact are
reported, not stored: personal data stays in the contacts, matched through their repository.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.analytics.imports.rows import Event, FileRefused, Parsed, RowIssue
from justmaily.server.analytics.models import EventImport, ImportedCampaign
from justmaily.server.audiences import repository
from justmaily.server.db.dialects import bulk_write_cache, insert_or_ignore
from justmaily.server.delivery.models import MessageEvent
from justmaily.server.http.problems import ApiError
from justmaily.server.identity.principal import Principal
from justmaily.shared import analytics as wire
from justmaily.shared.delivery import EventSource
from justmaily.shared.problems import FieldError

_KEPT_ISSUES = 1000
_EVENTS = cast(Table, MessageEvent.__table__)
_BATCH = 5000


@dataclass(frozen=True)
class _Campaign:
    subject: str
    sent_at: datetime
    row: int


def _consistent(events: Iterable[Event], issues: list[RowIssue]) -> dict[str, _Campaign]:
    """Each campaign's subject and send time, as its first row gives them; later rows must agree."""
    campaigns: dict[str, _Campaign] = {}
    for event in events:
        first = campaigns.setdefault(event.campaign, _Campaign(event.subject, event.sent_at, event.row))
        if first.sent_at != event.sent_at:
            issues.append(
                RowIssue(
                    event.row,
                    f"campaign {event.campaign[:80]!r} was sent at {first.sent_at.isoformat()}"
                    f" (row {first.row}), not {event.sent_at.isoformat()}",
                )
            )
    return campaigns


def refusal(reason: str, issues: list[RowIssue]) -> ApiError:
    errors = [FieldError(field=f"row {issue.row}", message=issue.message) for issue in issues[:_KEPT_ISSUES]]
    return ApiError(422, "import_refused", reason, errors=errors)


async def import_events(
    session: AsyncSession, principal: Principal, platform: str, data: bytes, reader: Callable[[bytes], Parsed]
) -> wire.EventImport:
    try:
        parsed = reader(data)
    except FileRefused as exc:
        raise refusal(f"the file was not imported: {exc.reason}", []) from None
    issues = list(parsed.issues)
    campaigns = _consistent(parsed.events, issues)
    if issues:
        issues.sort(key=lambda issue: issue.row)
        raise refusal(f"the file was not imported: {len(issues)} row(s) cannot be read", issues)
    workspace_id = principal.workspace_id
    campaign_ids = await _campaign_ids(session, workspace_id, platform, campaigns)
    unmatched: list[RowIssue] = []
    contacts: dict[str, uuid.UUID | None] = {}  # by email key; None: no contact has it
    hexes: dict[uuid.UUID, str] = {}
    prefixes = {name: f"{platform}\0{name}\0" for name in campaigns}
    detail = f"{platform} import"
    seen: set[str] = set()  # keys of this file's events so far: a repeated row adds nothing
    index = await repository.email_indexer(session, workspace_id)  # the address's blind index
    added = 0
    async with bulk_write_cache(session):  # the indexes' pages stay in memory between batches
        for start in range(0, len(parsed.events), _BATCH):
            events = parsed.events[start : start + _BATCH]
            # One query per batch for the addresses not met before (the repository matches them as
            # contacts store them), instead of loading every contact of the workspace.
            fresh_keys = {index(e.address) for e in events} - contacts.keys()
            if fresh_keys:
                found = await repository.contact_ids_by_key(session, workspace_id, fresh_keys)
                contacts.update((key, found.get(key)) for key in fresh_keys)
            rows: dict[str, dict[str, object]] = {}
            for event in events:
                contact_id = contacts[index(event.address)]
                if contact_id is None:
                    unmatched.append(
                        RowIssue(event.row, "the address is none of the workspace's contacts: not imported")
                    )
                    continue
                contact_hex = hexes.get(contact_id)
                if contact_hex is None:
                    contact_hex = hexes[contact_id] = contact_id.hex
                key = hashlib.sha256(
                    f"{prefixes[event.campaign]}{contact_hex}\0{event.kind}\0{event.occurred_at.isoformat()}".encode()
                ).hexdigest()
                if key in seen:
                    continue
                seen.add(key)
                rows[key] = {
                    "workspace_id": workspace_id,
                    "imported_campaign_id": campaign_ids[event.campaign],
                    "contact_id": contact_id,
                    "kind": event.kind,
                    "detail": detail,
                    "occurred_at": event.occurred_at,
                    "source": EventSource.IMPORT,
                    "machine": event.machine,
                    "external_id": key,
                }
            if not rows:
                continue
            known = set(
                await session.scalars(
                    select(MessageEvent.external_id).where(
                        MessageEvent.workspace_id == workspace_id,
                        MessageEvent.source == EventSource.IMPORT,
                        MessageEvent.external_id.in_(list(rows)),
                    )
                )
            )
            fresh = [row for key, row in rows.items() if key not in known]
            if fresh:
                # Core, not the ORM's bulk path: the same statement, without per-row ORM bookkeeping.
                # ON CONFLICT DO NOTHING: an import of the same file running at the same moment
                # (PostgreSQL lets both check first) must not fail on the other's rows.
                await session.execute(insert_or_ignore(session, _EVENTS), fresh)
            added += len(fresh)
    matched = len(parsed.events) - len(unmatched)
    record = EventImport(
        workspace_id=workspace_id,
        platform=platform,
        rows=parsed.rows,
        added=added,
        already=matched - added,
        unmatched=len(unmatched),
        issues=[{"row": i.row, "message": i.message} for i in unmatched[:_KEPT_ISSUES]],
        created_by=principal.user_id,
    )
    session.add(record)
    await session.flush()
    return to_wire(record)


async def _campaign_ids(
    session: AsyncSession, workspace_id: uuid.UUID, platform: str, campaigns: dict[str, _Campaign]
) -> dict[str, uuid.UUID]:
    """The campaigns' ids, the ones imported before kept (their first import's subject and time)."""
    if campaigns:
        await session.execute(
            insert_or_ignore(session, ImportedCampaign),
            [
                {
                    "id": uuid.uuid4(),
                    "workspace_id": workspace_id,
                    "platform": platform,
                    "name": name,
                    "subject": campaign.subject,
                    "sent_at": campaign.sent_at,
                }
                for name, campaign in campaigns.items()
            ],
        )
    ids: dict[str, uuid.UUID] = {}
    names = list(campaigns)
    for start in range(0, len(names), 500):
        rows = await session.execute(
            select(ImportedCampaign.name, ImportedCampaign.id).where(
                ImportedCampaign.workspace_id == workspace_id,
                ImportedCampaign.platform == platform,
                ImportedCampaign.name.in_(names[start : start + 500]),
            )
        )
        ids.update((name, campaign_id) for name, campaign_id in rows)
    return ids


async def listing(session: AsyncSession, workspace_id: uuid.UUID) -> list[wire.EventImport]:
    rows = await session.scalars(
        select(EventImport)
        .where(EventImport.workspace_id == workspace_id)
        .order_by(EventImport.created_at.desc())
        .limit(100)
    )
    return [to_wire(row) for row in rows]


def to_wire(record: EventImport) -> wire.EventImport:
    return wire.EventImport(
        id=record.id,
        platform=record.platform,
        rows=record.rows,
        added=record.added,
        already=record.already,
        unmatched=record.unmatched,
        issues=[wire.ImportIssue(row=int(i["row"]), message=str(i["message"])) for i in record.issues],
        created_at=record.created_at,
    )
