"""event provenance and machine opens: where each message event came from, opens by proxies,
and campaigns imported from other platforms with the imports that brought them; Mailgun's
webhook signing key and Postmark's credentials (sealed), and the Mailgun tokens accepted (single use)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SOURCES = ("sender", "tracking", "webhook", "import")


def upgrade() -> None:
    op.create_table(
        "imported_campaigns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_imported_campaigns_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_campaigns")),
        sa.UniqueConstraint(
            "workspace_id", "platform", "name", name=op.f("uq_imported_campaigns_workspace_id_platform_name")
        ),
    )
    op.create_table(
        "event_imports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("already", sa.Integer(), nullable=False),
        sa.Column("unmatched", sa.Integer(), nullable=False),
        sa.Column("issues", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_event_imports_created_by_users")),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_event_imports_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_imports")),
    )
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "source",
                sa.Enum(*_SOURCES, name="eventsource", native_enum=False, length=20),
                server_default="tracking",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("machine", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch_op.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("imported_campaign_id", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_message_events_imported", ["imported_campaign_id", "kind"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_message_events_imported_campaign_id_imported_campaigns"),
            "imported_campaigns",
            ["imported_campaign_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_message_events_workspace_id_source_external_id"),
            ["workspace_id", "source", "external_id"],
        )
    with op.batch_alter_table("webhook_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mailgun_signing_key", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("postmark_credentials", sa.LargeBinary(), nullable=True))
    op.create_table(
        "webhook_nonces",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("nonce", sa.String(length=200), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_webhook_nonces_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "provider", "nonce", name=op.f("pk_webhook_nonces")),
    )
    with op.batch_alter_table("webhook_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_nonces_seen_at"), ["seen_at"], unique=False)
    # Earlier events: the sender wrote sent and failed; provider reports carry their name first
    # ("ses: …", "sendgrid: …"); SendGrid's flagged Apple proxy opens read "sendgrid: machine open".
    events = sa.table(
        "message_events",
        sa.column("kind", sa.String),
        sa.column("detail", sa.String),
        sa.column("source", sa.String),
        sa.column("machine", sa.Boolean),
    )
    op.execute(events.update().where(events.c.kind.in_(("sent", "failed"))).values(source="sender"))
    op.execute(
        events.update()
        .where(events.c.detail.like("ses: %") | events.c.detail.like("sendgrid: %"))
        .values(source="webhook")
    )
    op.execute(
        events.update()
        .where(events.c.kind == "opened", events.c.detail == "sendgrid: machine open")
        .values(machine=True)
    )


def downgrade() -> None:
    op.drop_table("webhook_nonces")
    with op.batch_alter_table("webhook_settings", schema=None) as batch_op:
        batch_op.drop_column("postmark_credentials")
        batch_op.drop_column("mailgun_signing_key")
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_message_events_workspace_id_source_external_id"), type_="unique"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_message_events_imported_campaign_id_imported_campaigns"), type_="foreignkey"
        )
        batch_op.drop_index("ix_message_events_imported")
        batch_op.drop_column("imported_campaign_id")
        batch_op.drop_column("external_id")
        batch_op.drop_column("machine")
        batch_op.drop_column("source")
    op.drop_table("event_imports")
    op.drop_table("imported_campaigns")
