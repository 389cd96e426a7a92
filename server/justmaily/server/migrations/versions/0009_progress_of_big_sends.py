"""progress of big sends: a partial index of in-doubt messages

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 05:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_in_doubt",
            ["send_id"],
            unique=False,
            sqlite_where=sa.text("in_doubt = 1"),
            postgresql_where=sa.text("in_doubt"),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_in_doubt")
