"""The registry: agents' rows written at their heartbeats (`publish`, `retire`), and read for
the admins' routes (`Registry`). An agent whose heartbeats stopped shows `down`."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.http.problems import not_found
from justmaily.server.mesh.agents.catalogue import KINDS, card
from justmaily.server.mesh.engine import AgentState
from justmaily.server.mesh.models import MeshAgent
from justmaily.server.mesh.views import to_wire
from justmaily.shared.mesh import Agent, AgentCard, AgentDetail, AgentKind, AgentStatus, BreakerState

MISSED_HEARTBEATS = 3  # this many intervals without one: the agent is down


def agent_url(agent_id: uuid.UUID) -> str:
    """The address an in-process agent's card names (docs/mesh.md: no network interface)."""
    return f"urn:justmaily:agent:{agent_id}"


def card_etag(encoded: bytes) -> str:
    return hashlib.sha256(encoded).hexdigest()


def encoded_card(kind: AgentKind, agent_id: uuid.UUID) -> bytes:
    """An in-process agent's card as canonical JSON: what its ETag (and a check's record) hashes."""
    return msgspec.json.encode(card(kind, agent_url(agent_id)), order="sorted")


async def publish(database: Database, states: Iterable[AgentState], host: str) -> None:
    """Write every agent's health, load and latency (and its card, the first time)."""
    now = utcnow()
    async with transaction(database) as session:
        for state in states:
            worker = state.worker
            row = await session.get(MeshAgent, worker.id)
            if row is None:
                encoded = encoded_card(worker.kind, worker.id)
                row = MeshAgent(
                    id=worker.id,
                    kind=worker.kind,
                    name=KINDS[worker.kind].name,
                    host=host,
                    card=msgspec.json.decode(encoded),
                    card_etag=card_etag(encoded),
                    started_at=datetime.fromtimestamp(state.started_at, UTC),
                )
                session.add(row)
            row.status = state.status
            row.breaker = state.breaker.state
            row.load = state.load
            row.latency_ms = state.latency_ms
            row.completed = state.completed
            row.failed = state.failed
            row.heartbeat_at = now


async def retire(database: Database, agent_ids: Iterable[uuid.UUID]) -> None:
    """Agents stopping: shown down at once, not after their heartbeats are missed."""
    ids = list(agent_ids)
    if not ids:
        return
    async with transaction(database) as session:
        await session.execute(
            update(MeshAgent)
            .where(MeshAgent.id.in_(ids))
            .values(status=AgentStatus.DOWN, load=0, heartbeat_at=utcnow())
        )


class Registry:
    def __init__(self, session: AsyncSession, heartbeat_seconds: float) -> None:
        self.session = session
        self.silent_after = timedelta(seconds=heartbeat_seconds * MISSED_HEARTBEATS)

    async def list(self) -> list[Agent]:
        rows = await self.session.scalars(select(MeshAgent).order_by(MeshAgent.kind, MeshAgent.started_at))
        now = utcnow()
        return [self._agent(row, now) for row in rows]

    async def get(self, agent_id: uuid.UUID) -> tuple[AgentDetail, str]:
        """The agent with its card, and the card's ETag."""
        row = await self.session.get(MeshAgent, agent_id)
        if row is None:
            raise not_found("agent")
        detail = AgentDetail(agent=self._agent(row, utcnow()), card=msgspec.convert(row.card, AgentCard))
        return detail, row.card_etag

    def _agent(self, row: MeshAgent, now: datetime) -> Agent:
        agent = to_wire(row)
        if agent.status is not AgentStatus.DOWN and now - row.heartbeat_at > self.silent_after:
            return msgspec.structs.replace(
                agent, status=AgentStatus.DOWN, load=0, breaker=BreakerState(row.breaker)
            )
        return agent
