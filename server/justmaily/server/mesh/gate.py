"""The send gate (docs/mesh.md): before a send starts, every kind looks at the approved content,
and the workspace's gate judges the verdicts. `block` refuses a spam score at its threshold or
more and broken links (and a spam or links check that could not run at all: what was not
looked at is not passed); `warn`, the default, lets the send go with the same findings on record.

Delivery asks through its `ContentGate` port (delivery/sends/gate.py) and records the result.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.delivery.sends.gate import GateResult
from justmaily.server.mesh.agents.email import Email
from justmaily.server.mesh.models import MeshGateRow
from justmaily.server.mesh.registry import card_etag, encoded_card
from justmaily.server.mesh.runtime import Mesh
from justmaily.shared.mesh import AgentKind, GateMode, SendGate, Severity, Verdict, VerdictStatus

log = structlog.get_logger(__name__)

BROKEN_LINK_RULES = frozenset({"LINK_MALFORMED"})


async def read_gate(session: AsyncSession, workspace_id: uuid.UUID) -> SendGate:
    row = await session.get(MeshGateRow, workspace_id)
    return SendGate() if row is None else SendGate(mode=row.mode, spam_threshold=row.spam_threshold)


async def write_gate(session: AsyncSession, workspace_id: uuid.UUID, gate: SendGate) -> SendGate:
    row = await session.get(MeshGateRow, workspace_id)
    if row is None:
        row = MeshGateRow(workspace_id=workspace_id)
        session.add(row)
    row.mode, row.spam_threshold, row.updated_at = gate.mode, gate.spam_threshold, utcnow()
    await session.flush()
    return gate


def findings_against(verdicts: Mapping[AgentKind, Verdict], gate: SendGate) -> list[str]:
    """What in the verdicts the gate stops at: a spam score at the threshold or more, broken links,
    and a spam or links check that could not run."""
    found: list[str] = []
    spam = verdicts[AgentKind.SPAM]
    if spam.status is VerdictStatus.UNAVAILABLE:
        found.append(f"the spam check could not run ({spam.error})")
    else:
        score = float(spam.metrics.get("score", 0.0))
        if score >= gate.spam_threshold:
            rules = ", ".join(f.rule for f in spam.findings if f.severity is not Severity.INFO and f.score)
            found.append(
                f"spam score {score:g} is at or above the threshold {gate.spam_threshold:g} ({rules})"
            )
    links = verdicts[AgentKind.LINKS]
    if links.status is VerdictStatus.UNAVAILABLE:
        found.append(f"the links check could not run ({links.error})")
    found.extend(f"broken link: {f.message}" for f in links.findings if f.rule in BROKEN_LINK_RULES)
    return found


def on_record(verdict: Verdict) -> dict[str, Any]:
    """A verdict as the transparency log keeps it: who answered (the agent and its card's SHA-256),
    how, and the rules found; no messages or excerpts of the content (the log is append-only)."""
    entry: dict[str, Any] = {"kind": str(verdict.kind), "status": str(verdict.status)}
    if verdict.agent is not None:
        entry["agent"] = verdict.agent
        entry["card_sha256"] = card_etag(encoded_card(verdict.kind, uuid.UUID(verdict.agent)))
    if "score" in verdict.metrics:
        entry["score"] = verdict.metrics["score"]
    entry["findings"] = [{"rule": f.rule, "severity": str(f.severity)} for f in verdict.findings]
    return entry


class MeshGate:
    """Delivery's `ContentGate`, answered by this process's mesh."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh

    async def check(self, workspace_id: uuid.UUID, texts: Mapping[str, str], content_hash: str) -> GateResult:
        async with self.mesh.database.session(read_only=True) as session:
            gate = await read_gate(session, workspace_id)
        known = await self.mesh.known_fields(workspace_id)
        email = await anyio.to_thread.run_sync(Email.of, dict(texts), known)
        verdicts: dict[AgentKind, Verdict] = {}

        async def one(kind: AgentKind) -> None:
            verdicts[kind] = await self.mesh.engine.analyse(kind, email, content_hash)

        async with anyio.create_task_group() as group:
            for kind in AgentKind:
                group.start_soon(one, kind)
        found = findings_against(verdicts, gate)
        if found:
            log.warning(
                "send_gate_findings", workspace=str(workspace_id), gate=str(gate.mode), findings=found
            )
        blocking = found if gate.mode is GateMode.BLOCK else []
        return GateResult(
            content_hash=content_hash,
            mode=str(gate.mode),
            verdicts=[on_record(verdicts[kind]) for kind in sorted(verdicts)],
            blocking=blocking,
            warnings=[] if blocking else found,
        )
