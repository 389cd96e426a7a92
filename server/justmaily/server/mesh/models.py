"""The mesh's registry: every agent that ever signed in, with its card and its last heartbeat.

The installation's, not a workspace's: agents serve every workspace and hold none of their data.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from justmaily.server.db.base import Base, UTCDateTime, enum_column, utcnow
from justmaily.shared.mesh import AgentKind, AgentStatus, BreakerState, GateMode


class MeshAgent(Base):
    __tablename__ = "mesh_agents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[AgentKind] = mapped_column(enum_column(AgentKind), index=True)
    name: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(200))  # machine and process
    card: Mapped[dict[str, object]] = mapped_column(JSON)  # the A2A card as JSON
    card_etag: Mapped[str] = mapped_column(String(64))  # SHA-256 of the card's canonical JSON
    status: Mapped[AgentStatus] = mapped_column(enum_column(AgentStatus))
    breaker: Mapped[BreakerState] = mapped_column(enum_column(BreakerState))
    load: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MeshGateRow(Base):
    """A workspace's send gate (docs/mesh.md); a workspace without a row has the default: warn."""

    __tablename__ = "mesh_gates"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[GateMode] = mapped_column(enum_column(GateMode))
    spam_threshold: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
