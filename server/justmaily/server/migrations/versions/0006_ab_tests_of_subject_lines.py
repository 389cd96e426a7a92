"""A/B tests of subject lines

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 03:39:00.215212
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("ab_sample", sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ab_test", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_column("ab_test")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("ab_sample")
        batch_op.drop_column("variant")
