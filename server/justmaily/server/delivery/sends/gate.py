"""The check approved content passes before a send starts (the mesh provides it: docs/mesh.md,
"The send gate"), and its record in the transparency log beside the approval.

The check runs before the send's transaction (agents take their time; no lock waits on them);
the send then refuses a blocked result, and records what the agents said either way: a
passed check commits with the send, a blocked one in a transaction of its own, so the refusal
is on record too.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.http.problems import ApiError
from justmaily.server.trust import log as trust_log
from justmaily.shared.problems import FieldError
from justmaily.shared.trust import EntryKind


@dataclass(frozen=True, slots=True)
class GateResult:
    """The gate's answer about one content hash: `verdicts` as the log records them (kind, agent,
    the SHA-256 of its card, status, score and the rules found); `blocking` names each finding
    that refuses the send (empty: it may go)."""

    content_hash: str
    mode: str
    verdicts: list[Mapping[str, Any]]
    blocking: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return bool(self.blocking)


@runtime_checkable  # Litestar checks injected values against the annotation
class ContentGate(Protocol):
    async def check(self, workspace_id: uuid.UUID, texts: Mapping[str, str], content_hash: str) -> GateResult:
        """Every kind's verdict on the texts, judged by the workspace's gate."""
        ...


async def record(
    session: AsyncSession,
    result: GateResult,
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    approval_index: int | None,
) -> int:
    """The verdicts as a transparency-log entry naming the approval's entry; returns its index."""
    data: dict[str, Any] = {
        "workspace_id": workspace_id,
        "campaign_id": campaign_id,
        "content_hash": result.content_hash,
        "approval": approval_index,
        "gate": result.mode,
        "blocked": result.blocked,
        "verdicts": result.verdicts,
        "checked_at": utcnow(),
    }
    return await trust_log.append(
        session, trust_log.Record(EntryKind.CONTENT_CHECK, data, workspace_id=workspace_id)
    )


def refusal(result: GateResult, log_index: int) -> ApiError:
    """The problem a blocked send answers: every blocking finding, by name."""
    message = (
        "the content checks block this send: "
        + "; ".join(result.blocking)
        + f" (on record as transparency-log entry {log_index})"
    )
    return ApiError(
        422,
        "content_blocked",
        message,
        errors=[FieldError(field="content", message=finding) for finding in result.blocking],
    )
