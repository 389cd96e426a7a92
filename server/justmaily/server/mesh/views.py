"""`to_wire`: the registry's rows as the wire has them."""

from __future__ import annotations

from justmaily.server.mesh.models import MeshAgent
from justmaily.shared.mesh import Agent


def to_wire(row: MeshAgent) -> Agent:
    return Agent(
        id=row.id,
        kind=row.kind,
        name=row.name,
        host=row.host,
        status=row.status,
        breaker=row.breaker,
        load=row.load,
        latency_ms=row.latency_ms,
        completed=row.completed,
        failed=row.failed,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
    )
