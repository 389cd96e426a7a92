"""ops indicators: service-level indicator counts per objective and minute (GET /api/ops/slo)

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-07 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_sli_minutes",
        sa.Column("slo", sa.String(length=40), nullable=False),
        sa.Column("minute", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("good", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("slo", "minute", name=op.f("pk_ops_sli_minutes")),
    )


def downgrade() -> None:
    op.drop_table("ops_sli_minutes")
