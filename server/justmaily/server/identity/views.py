"""`to_wire`: identity's rows as the API answers them (shared/auth.py)."""

from __future__ import annotations

from typing import overload

from justmaily.server.identity import models
from justmaily.server.identity.principal import Principal
from justmaily.shared import auth as wire
from justmaily.shared.roles import Permission


@overload
def to_wire(row: models.ApiKey) -> wire.ApiKey: ...
@overload
def to_wire(row: models.Invitation) -> wire.Invitation: ...
@overload
def to_wire(row: models.Membership, user: models.User) -> wire.Member: ...
@overload
def to_wire(row: Principal) -> wire.Me: ...
def to_wire(
    row: models.ApiKey | models.Invitation | models.Membership | Principal, user: models.User | None = None
) -> wire.ApiKey | wire.Invitation | wire.Member | wire.Me:
    if isinstance(row, models.ApiKey):
        return wire.ApiKey(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            scopes=[Permission(s) for s in row.scopes],
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )
    if isinstance(row, models.Invitation):
        return wire.Invitation(
            id=row.id,
            email=row.email,
            role=row.role,
            invited_by=row.invited_by,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )
    if isinstance(row, models.Membership):
        assert user is not None
        return wire.Member(
            user_id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=row.role,
            joined_at=row.created_at,
        )
    return wire.Me(
        kind=row.kind,
        id=row.id,
        workspace=row.workspace_slug,
        permissions=sorted(row.permissions),
        email=row.email,
        display_name=row.display_name,
        role=row.role,
    )
