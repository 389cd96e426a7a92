"""The audit log: every read of a secret or decryption key and every key operation, appended.

Entries are written in the caller's transaction, so an entry stands exactly when what it records
does. What a person reads through the API is recorded by who asked (`Actor`); what the server
does by itself (sending, rotation on a schedule) is the `system` actor with the job as its id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.identity.principal import Principal
from justmaily.server.protection.models import AuditEntry
from justmaily.shared.audit import ActorKind


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str  # a person's or API key's id, a service credential's name, or the job's name

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls("system", job)


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    subject: str,
    *,
    reason: str,
    workspace_id: uuid.UUID | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        id=uuid.uuid4(),
        at=utcnow(),
        workspace_id=workspace_id,
        actor_kind=actor.kind,
        actor_id=actor.id[:100],
        action=action[:60],
        subject=subject[:200],
        reason=reason[:500],
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[AuditEntry]:
    """A workspace's entries, oldest first, from after `after` (a page's last (at, id))."""
    query = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
    if after is not None:
        query = query.where(
            (AuditEntry.at > after[0]) | ((AuditEntry.at == after[0]) & (AuditEntry.id > after[1]))
        )
    return list(await session.scalars(query.order_by(AuditEntry.at, AuditEntry.id).limit(limit)))


def actor_of(principal: Principal) -> Actor:
    """Who a request acts as: the person, the API key or the service credential."""
    kinds: dict[str, ActorKind] = {"user": "person", "api_key": "api_key", "service": "service"}
    return Actor(kinds[principal.kind], str(principal.id))


def audit_leaf(entry: AuditEntry) -> bytes:
    """The canonical JSON of an entry (keys sorted, no spaces): what the daily root covers."""
    return msgspec.json.encode(
        {
            "id": entry.id,
            "at": entry.at,
            "workspace_id": entry.workspace_id,
            "actor_kind": entry.actor_kind,
            "actor_id": entry.actor_id,
            "action": entry.action,
            "subject": entry.subject,
            "reason": entry.reason,
        },
        order="sorted",
    )


async def first_entry_at(session: AsyncSession) -> datetime | None:
    found: datetime | None = await session.scalar(select(func.min(AuditEntry.at)))
    return found


async def entries_between(session: AsyncSession, start: datetime, end: datetime) -> list[AuditEntry]:
    """Every workspace's entries with start <= at < end, in (at, id) order."""
    query = select(AuditEntry).where(AuditEntry.at >= start, AuditEntry.at < end)
    return list(await session.scalars(query.order_by(AuditEntry.at, AuditEntry.id)))
