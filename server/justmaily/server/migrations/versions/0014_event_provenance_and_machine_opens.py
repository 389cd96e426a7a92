"""event provenance and machine opens: where each message event came from, and opens by proxies

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SOURCES = ("sender", "tracking", "webhook", "import")


def upgrade() -> None:
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
        batch_op.create_unique_constraint(
            batch_op.f("uq_message_events_workspace_id_source_external_id"),
            ["workspace_id", "source", "external_id"],
        )
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
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_message_events_workspace_id_source_external_id"), type_="unique"
        )
        batch_op.drop_column("external_id")
        batch_op.drop_column("machine")
        batch_op.drop_column("source")
