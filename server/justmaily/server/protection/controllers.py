"""HTTP handlers of data protection, for owners and admins: the audit log, and the workspace's
key versions (list, rotate)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.pagination import CursorParameter, decode_cursor, encode_cursor
from justmaily.server.http.policy import requires
from justmaily.server.http.problems import ApiError
from justmaily.server.identity.principal import AuthedRequest
from justmaily.server.protection import audit, examples
from justmaily.server.protection.hierarchy import ConcurrentRotationError, KeyHierarchy
from justmaily.server.protection.models import DataKey, KeyPurpose
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


class KeysController(Controller):
    path = "/api/keys"
    tags = ["audit"]

    @get(
        opt=requires(Permission.KEYS_MANAGE),
        responses=ok(list[wire.WorkspaceKey], [examples.WORKSPACE_KEY]) | problems(),
        summary="The workspace's key versions (never the keys); none until first used or rotated",
    )
    async def list_keys(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        protection: NamedDependency[KeyHierarchy],
    ) -> list[wire.WorkspaceKey]:
        # Reads only (a GET's session does not write): listing unwraps nothing, makes nothing.
        return _key_versions(await protection.versions(db_session, request.user.workspace_id))

    @post(
        "/rotations",
        opt=requires(Permission.KEYS_MANAGE),
        responses=ok(list[wire.WorkspaceKey], [examples.WORKSPACE_KEY], 201) | problems(400, 409, 422),
        summary="Make a new version of the workspace's data or index key, which is used from now on",
    )
    async def rotate(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        protection: NamedDependency[KeyHierarchy],
        data: Annotated[
            wire.KeyRotation, body("rotate the data key", {"purpose": "data", "reason": "yearly"})
        ],
    ) -> list[wire.WorkspaceKey]:
        """Older versions stay: they still open what they sealed."""
        actor, workspace_id = audit.actor_of(request.user), request.user.workspace_id
        await protection.keys_of(db_session, workspace_id, actor, data.reason)
        try:
            await protection.new_version(
                db_session, workspace_id, KeyPurpose(data.purpose), actor, data.reason
            )
        except ConcurrentRotationError as error:
            raise ApiError(409, "rotation_conflict", f"{error}: ask again") from None
        return _key_versions(await protection.versions(db_session, workspace_id))


def _key_versions(rows: list[DataKey]) -> list[wire.WorkspaceKey]:
    newest = {row.purpose: row.version for row in rows}  # sorted by version: the last one stays
    return [
        wire.WorkspaceKey(
            purpose=row.purpose.value,
            version=row.version,
            kek_version=row.kek_version,
            current=newest[row.purpose] == row.version,
            created_at=row.created_at,
        )
        for row in rows
    ]
