"""campaign certificates and service credentials; sends name their certificate and log entry

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 04:07:46.259440
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from justmaily.server.db.append_only import append_only_guards as _guards

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("approvers", sa.JSON(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_certificates")),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_certificates_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificates_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "service_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "owner",
                "admin",
                "editor",
                "reviewer",
                "analyst",
                "viewer",
                name="role",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("issued_by", sa.Uuid(), nullable=False),
        sa.Column("renewed_from", sa.Uuid(), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["issued_by"], ["users.id"], name=op.f("fk_service_credentials_issued_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_service_credentials_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_credentials")),
        sa.UniqueConstraint("serial", name=op.f("uq_service_credentials_serial")),
    )
    with op.batch_alter_table("service_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_credentials_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "batch_leaves",
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("send_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_batch_leaves")),
    )
    with op.batch_alter_table("batch_leaves", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_leaves_send_id"), ["send_id"], unique=False)
    op.create_table(
        "batch_nodes",
        sa.Column("send_id", sa.Uuid(), nullable=False),
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("send_id", "level", "position", name=op.f("pk_batch_nodes")),
    )
    for table in ("batch_leaves", "batch_nodes"):  # append-only, as the log (migration 0007)
        for statement in _guards(op.get_bind().dialect.name, table):
            op.execute(sa.text(statement))

    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("certificate_serial", sa.String(length=40), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("log_index", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_table("batch_nodes")
    with op.batch_alter_table("batch_leaves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_leaves_send_id"))
    op.drop_table("batch_leaves")
    op.drop_table("service_credentials")
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_column("log_index")
        batch_op.drop_column("certificate_serial")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificates_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_certificates_campaign_id"))

    op.drop_table("certificates")
