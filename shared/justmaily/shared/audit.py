"""The audit log and the key versions as the API shows them (docs/data-protection.md): who
read a decryption key or a secret, or operated on a key, when and why; which key versions a
workspace has, and a request to rotate one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

ActorKind = Literal["person", "api_key", "service", "system"]


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    at: datetime
    actor_kind: ActorKind
    actor_id: str  # a person's or API key's id, a service credential's, or the server job's name
    action: str  # e.g. key.create, key.unwrap, kek.rewrap
    subject: str  # what was acted on, e.g. "data key v2"
    reason: str


KeyPurpose = Literal["data", "index"]


class WorkspaceKey(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a workspace's key (never the key itself)."""

    purpose: KeyPurpose
    version: int
    kek_version: int  # the KEK version it is wrapped under
    current: bool  # the version that seals (or indexes) from now on
    created_at: datetime


class KeyRotation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    purpose: KeyPurpose = "data"
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
