"""The agent mesh on the wire: A2A agent cards, the registry's view of each agent, and the
verdicts agents write into a campaign document's `insights` map.

The card follows the A2A v1.0 Agent Card's JSON shape (camelCase names, `supportedInterfaces`,
`skills` with ids and examples), so any A2A client reads it; see docs/mesh.md. New fields get
defaults (msgspec's schema-evolution rules), so an older desktop keeps reading a newer server.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

A2A_PROTOCOL_VERSION = "1.0"
# Agents running inside a server process: no network interface of their own (docs/mesh.md).
IN_PROCESS_BINDING = "justmaily-in-process"
# The key of the document's `insights` map the mesh writes (beside collaboration's `stats`).
MESH_INSIGHTS = "mesh"


class AgentKind(enum.StrEnum):
    """What an agent does; its card's one skill has the same id."""

    SPAM = "spam"
    READABILITY = "readability"
    TONE = "tone"
    LANGUAGE = "language"
    LINKS = "links"
    ACCESSIBILITY = "accessibility"
    MERGE_FIELDS = "merge-fields"


class AgentStatus(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"  # answering, but failures in its recent window (breaker half-open)
    DOWN = "down"  # breaker open, stopped, or no heartbeat for too long


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class AgentSkill(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    id: str
    name: str
    description: str
    tags: list[str] = []
    examples: list[str] = []
    input_modes: list[str] = []
    output_modes: list[str] = []


class AgentInterface(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    url: str
    protocol_binding: str
    protocol_version: str = A2A_PROTOCOL_VERSION


class AgentCapabilities(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    streaming: bool = False
    push_notifications: bool = False
    extended_agent_card: bool = False


class AgentProvider(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    organization: str
    url: str


class AgentCard(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """An A2A v1.0 Agent Card (the fields this mesh uses)."""

    name: str
    description: str
    version: str
    supported_interfaces: list[AgentInterface]
    capabilities: AgentCapabilities  # required by A2A, so never omitted
    default_input_modes: list[str]
    default_output_modes: list[str]
    skills: list[AgentSkill]
    provider: AgentProvider | None = None
    documentation_url: str | None = None


class Agent(msgspec.Struct, frozen=True, kw_only=True):
    """One agent as the registry knows it. `status` is as of the last heartbeat, or `down`
    once heartbeats stop."""

    id: UUID
    kind: AgentKind
    name: str
    host: str  # where it runs (machine and process)
    status: AgentStatus
    breaker: BreakerState
    load: int  # tasks in flight at the last heartbeat
    latency_ms: float | None  # median of its recent tasks
    completed: int
    failed: int
    started_at: datetime
    heartbeat_at: datetime


class AgentDetail(msgspec.Struct, frozen=True, kw_only=True):
    agent: Agent
    card: AgentCard


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Finding(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One thing an agent noticed: `rule` is stable (a SpamAssassin rule name for the spam
    agent), `message` is for people."""

    rule: str
    severity: Severity
    message: str
    score: float | None = None
    where: str | None = None  # the text or element it is about, shortened


class VerdictStatus(enum.StrEnum):
    OK = "ok"  # an agent answered
    DEGRADED = "degraded"  # no agent could: the server's own reduced check answered
    UNAVAILABLE = "unavailable"  # nothing could answer: show it, never an old verdict as current


class AgentReport(msgspec.Struct, frozen=True, kw_only=True):
    """What an agent answers for one document: findings and figures (per kind, `metrics`)."""

    findings: list[Finding] = []
    metrics: dict[str, Any] = {}


class Verdict(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One kind's answer about the document revision `revision` (its content hash)."""

    kind: AgentKind
    status: VerdictStatus
    revision: str
    findings: list[Finding] = []
    metrics: dict[str, Any] = {}
    agent: str | None = None  # the agent's id; None when degraded or unavailable
    error: str | None = None  # why it is degraded or unavailable


class MeshInsights(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The document's `insights["mesh"]`: every kind's verdict about `revision`. `stale` is set
    by the server as soon as the content moves past `revision`, until fresh verdicts land."""

    revision: str
    verdicts: dict[str, Verdict] = {}
    stale: bool = False


class GateMode(enum.StrEnum):
    """What the mesh's verdicts do to a send of approved content (docs/mesh.md, "The send gate")."""

    WARN = "warn"  # the send goes; the verdicts are on record
    BLOCK = "block"  # a spam score at the threshold or more, or a broken link, refuses the send


class SendGate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A workspace's send gate; `spam_threshold` is the spam agent's score that blocks."""

    mode: GateMode = GateMode.WARN
    spam_threshold: Annotated[float, msgspec.Meta(gt=0, le=100)] = 5.0
