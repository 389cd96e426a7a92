"""The audit log as the API shows it (docs/data-protection.md): who read a decryption key or a
secret, or operated on a key, when and why."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

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
