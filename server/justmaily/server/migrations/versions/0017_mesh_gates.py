"""mesh gates: each workspace's send gate (warn, or block on spam score and broken links)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 23:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mesh_gates",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column(
            "mode", sa.Enum("warn", "block", name="gatemode", native_enum=False, length=20), nullable=False
        ),
        sa.Column("spam_threshold", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_mesh_gates_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_mesh_gates")),
    )


def downgrade() -> None:
    op.drop_table("mesh_gates")
