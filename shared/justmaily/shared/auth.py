"""Sign-in, tokens, members and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from justmaily.shared.roles import Permission, Role

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, examples=["ada@example.com"])]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
NewPassword = Annotated[str, msgspec.Meta(min_length=12, max_length=1024)]
Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", examples=["acme"])]


class LoginRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    email: Email
    password: Password
    # Which of the user's workspaces to sign in to; the first one joined when omitted.
    workspace: Slug | None = None


class RefreshRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class WorkspaceMembership(msgspec.Struct, frozen=True, kw_only=True):
    workspace: str
    workspace_name: str
    role: Role


class TokenPair(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    workspace: str
    role: Role
    workspaces: list[WorkspaceMembership] = msgspec.field(default_factory=list)


class Me(msgspec.Struct, frozen=True, kw_only=True):
    """Who the caller is: a member signed in, or an API key acting for the workspace."""

    kind: str  # "user" or "api_key"
    id: UUID
    workspace: str
    permissions: list[Permission]
    email: str | None = None
    display_name: str | None = None
    role: Role | None = None


class Member(msgspec.Struct, frozen=True, kw_only=True):
    user_id: UUID
    email: str
    display_name: str
    role: Role
    joined_at: datetime


class MemberCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Add a person to the workspace; creates their account when the e-mail is new."""

    email: Email
    role: Role
    display_name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    # Required when the account is new; ignored (never changed) for an existing account.
    password: NewPassword | None = None


class MemberUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: Role


class ApiKeyCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["nightly export"])]
    scopes: Annotated[list[Permission], msgspec.Meta(min_length=1)]
    expires_at: datetime | None = None


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    prefix: str
    scopes: list[Permission]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(msgspec.Struct, frozen=True, kw_only=True):
    """The only time the secret is shown: store it, the server keeps a hash."""

    key: ApiKey
    secret: str
