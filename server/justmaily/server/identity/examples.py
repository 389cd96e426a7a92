"""Worked examples for the OpenAPI document of the identity domain."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from justmaily.shared.auth import (
    ApiKey,
    ApiKeyCreated,
    Invitation,
    InvitationCreated,
    Me,
    Member,
    TokenPair,
    WorkspaceMembership,
)
from justmaily.shared.roles import Permission, Role

_AT = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
_USER = UUID("6a1d4a0e-8d4b-4f0e-9a57-2b1f3c4d5e6f")
_JWT = "eyJhbGciOiJFZERTQSIsImtpZCI6IkxZeFNwTzc3In0.eyJzdWIiOiI2YTFkNGEwZSJ9.c2lnbmF0dXJl"

TOKEN_PAIR = TokenPair(
    access_token=_JWT,
    refresh_token=_JWT,
    expires_in=900,
    workspace="acme",
    role=Role.EDITOR,
    workspaces=[WorkspaceMembership(workspace="acme", workspace_name="Acme", role=Role.EDITOR)],
)
ME = Me(
    kind="user",
    id=_USER,
    workspace="acme",
    permissions=[Permission.CAMPAIGNS_READ, Permission.CAMPAIGNS_WRITE],
    email="ada@example.com",
    display_name="Ada",
    role=Role.EDITOR,
)
MEMBER = Member(
    user_id=_USER, email="grace@example.com", display_name="Grace", role=Role.EDITOR, joined_at=_AT
)
API_KEY = ApiKey(
    id=UUID("3c2b1a09-8f7e-4d6c-9b5a-493827160504"),
    name="BI export",
    prefix="4f2a9c1e0b7d3a65",
    scopes=[Permission.CAMPAIGNS_READ],
    created_at=_AT,
)
API_KEY_CREATED = ApiKeyCreated(key=API_KEY, secret="jm_4f2a9c1e0b7d3a65_" + "x" * 43)
INVITATION = Invitation(
    id=UUID("9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"),
    email="grace@example.com",
    role=Role.EDITOR,
    invited_by=_USER,
    created_at=_AT,
    expires_at=datetime(2026, 5, 8, 9, 30, tzinfo=UTC),
)
INVITATION_CREATED = InvitationCreated(invitation=INVITATION, token="jmi_" + "x" * 43)
