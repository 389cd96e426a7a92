"""mesh agents: the registry of the agent mesh (cards, heartbeats, health, load)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("spam", "readability", "tone", "language", "links", "accessibility", "merge-fields")


def upgrade() -> None:
    op.create_table(
        "mesh_agents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Enum(*_KINDS, name="agentkind", native_enum=False, length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("card_etag", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum("healthy", "degraded", "down", name="agentstatus", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column(
            "breaker",
            sa.Enum("closed", "open", "half-open", name="breakerstate", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("load", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mesh_agents")),
    )
    with op.batch_alter_table("mesh_agents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mesh_agents_kind"), ["kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mesh_agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mesh_agents_kind"))
    op.drop_table("mesh_agents")
