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


class InvitationCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Invite a person, by e-mail address, to join the workspace in a role."""

    email: Email
    role: Role


class Invitation(msgspec.Struct, frozen=True, kw_only=True):
    """A pending invitation. It says nothing of whether the address has an account."""

    id: UUID
    email: str
    role: Role
    invited_by: UUID | None
    created_at: datetime
    expires_at: datetime


class InvitationCreated(msgspec.Struct, frozen=True, kw_only=True):
    """The only time the token is shown: pass it to the invitee; the server keeps a hash."""

    invitation: Invitation
    token: str


class InvitationAccept(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Join with the invitation's token: `password` is the password of the invited address's
    account, or, when it has none yet, the new account's (at least 12 characters)."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    password: Password
    display_name: Annotated[str, msgspec.Meta(max_length=200)] = ""  # for a new account


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
