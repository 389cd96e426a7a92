"""Who is calling: a member signed in with a token, or an API key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from litestar import Request
from litestar.datastructures import State

from justmaily.shared.roles import Permission, Role


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["user", "api_key", "service"]
    id: uuid.UUID  # the user's id, the API key's, or the service credential's
    user_id: uuid.UUID  # the person accountable: the user, or whoever created the key or credential
    workspace_id: uuid.UUID
    workspace_slug: str
    permissions: frozenset[Permission]
    role: Role | None = None
    email: str | None = None
    display_name: str | None = None


# What a handler behind authentication receives.
AuthedRequest = Request[Principal, str, State]
