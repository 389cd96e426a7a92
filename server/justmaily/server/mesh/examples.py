"""Examples for the OpenAPI document."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from justmaily.server.mesh.agents.catalogue import card
from justmaily.server.mesh.registry import agent_url
from justmaily.shared.mesh import Agent, AgentDetail, AgentKind, AgentStatus, BreakerState, GateMode, SendGate

_ID = uuid.UUID("0b9f3a5e-5d1c-4d0e-9a4f-6f1b2c3d4e5f")
AGENT = Agent(
    id=_ID,
    kind=AgentKind.SPAM,
    name="Spam and deliverability",
    host="mail-1:4123",
    status=AgentStatus.HEALTHY,
    breaker=BreakerState.CLOSED,
    load=0,
    latency_ms=3.4,
    completed=1280,
    failed=2,
    started_at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
    heartbeat_at=datetime(2026, 12, 7, 9, 30, 10, tzinfo=UTC),
)
DETAIL = AgentDetail(agent=AGENT, card=card(AgentKind.SPAM, agent_url(_ID)))
GATE = SendGate(mode=GateMode.BLOCK, spam_threshold=5.0)
