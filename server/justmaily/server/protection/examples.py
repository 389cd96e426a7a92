"""Examples for the OpenAPI document."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from justmaily.shared.audit import AuditEntry, WorkspaceKey

AUDIT_ENTRY = AuditEntry(
    id=uuid.UUID("0b9e6f7c-5d1a-4c7e-9a53-2f0d7a1c9e41"),
    at=datetime(2026, 12, 7, 22, 0, tzinfo=UTC),
    actor_kind="system",
    actor_id="sender",
    action="key.unwrap",
    subject="data key v1",
    reason="send",
)

WORKSPACE_KEY = WorkspaceKey(
    purpose="data",
    version=2,
    kek_version=1,
    current=True,
    created_at=datetime(2026, 12, 7, 22, 0, tzinfo=UTC),
)
