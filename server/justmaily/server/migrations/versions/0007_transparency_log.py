"""transparency log (append-only: triggers refuse UPDATE and DELETE)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 03:58:40.785701
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from justmaily.server.db.append_only import append_only_guards as _guards

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_entries",
        sa.Column("log_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "approval",
                "send",
                "certificate_issued",
                "certificate_revoked",
                "key_rotation",
                name="entrykind",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("log_index", name=op.f("pk_log_entries")),
    )
    with op.batch_alter_table("log_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_log_entries_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "log_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "position", name=op.f("pk_log_nodes")),
    )
    op.create_table(
        "log_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_state")),
    )
    op.create_table(
        "tree_heads",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_tree_heads")),
    )
    op.execute(sa.text("INSERT INTO log_state (id, size) VALUES (1, 0)"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            sa.text(
                "CREATE FUNCTION justmaily_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN RAISE EXCEPTION 'the transparency log is append-only (%)', TG_TABLE_NAME; END $$"
            )
        )
    for table in APPEND_ONLY:
        for statement in _guards(op.get_bind().dialect.name, table):
            op.execute(sa.text(statement))


APPEND_ONLY = ("log_entries", "log_nodes", "tree_heads")


def downgrade() -> None:
    op.drop_table("tree_heads")
    op.drop_table("log_state")
    op.drop_table("log_nodes")
    with op.batch_alter_table("log_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_entries_workspace_id"))

    op.drop_table("log_entries")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP FUNCTION justmaily_append_only()"))
