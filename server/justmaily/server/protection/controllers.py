"""HTTP handlers of data protection: the audit log, for owners and admins."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.http.openapi import ok, problems
from justmaily.server.http.pagination import CursorParameter, decode_cursor, encode_cursor
from justmaily.server.http.policy import requires
from justmaily.server.identity.principal import AuthedRequest
from justmaily.server.protection import audit, examples
from justmaily.shared import audit as wire
from justmaily.shared.pagination import Page
from justmaily.shared.roles import Permission

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Page size")]


class AuditController(Controller):
    path = "/api/audit"
    tags = ["audit"]

    @get(
        opt=requires(Permission.AUDIT_READ),
        responses=ok(Page[wire.AuditEntry], Page(items=[examples.AUDIT_ENTRY])) | problems(400, 422),
        summary="The workspace's audit log, oldest first: key operations and reads of keys and secrets",
    )
    async def list_entries(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 100,
        cursor: CursorParameter = None,
    ) -> Page[wire.AuditEntry]:
        after = decode_cursor(cursor) if cursor else None
        rows = await audit.entries(
            db_session,
            request.user.workspace_id,
            after=(after.created_at, after.id) if after else None,
            limit=limit + 1,
        )
        items = [
            wire.AuditEntry(
                id=row.id,
                at=row.at,
                actor_kind=row.actor_kind,  # type: ignore[arg-type]  # written only from ActorKind
                actor_id=row.actor_id,
                action=row.action,
                subject=row.subject,
                reason=row.reason,
            )
            for row in rows[:limit]
        ]
        last = rows[limit - 1] if len(rows) > limit else None
        return Page(items=items, next_cursor=encode_cursor(last.at, last.id) if last else None)
