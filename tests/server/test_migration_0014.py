"""Migration 0014: message events gain their provenance and the machine-open flag, filled in for
the events recorded before it from what their detail already said."""

from __future__ import annotations

from alembic import command
from litestar import Litestar
from sqlalchemy import text

from justmaily.server.migrations.migrate import alembic_config
from justmaily.server.services import services_of
from tests.plugins.api import Team


async def test_earlier_events_get_their_source_and_sendgrid_s_machine_opens_their_flag(
    app: Litestar, team: Team
) -> None:
    database = services_of(app).database
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0013"))
    async with database.engine.begin() as connection:
        workspace = (await connection.execute(text("SELECT id FROM workspaces LIMIT 1"))).scalar_one()
        for kind, detail in (
            ("sent", "250 ok"),
            ("opened", ""),
            ("opened", "sendgrid: machine open"),
            ("opened", "sendgrid: open"),
            ("bounced", "ses: Permanent: General"),
        ):
            await connection.execute(
                text(
                    "INSERT INTO message_events (workspace_id, kind, detail, occurred_at)"
                    " VALUES (:w, :k, :d, CURRENT_TIMESTAMP)"
                ),
                {"w": workspace, "k": kind, "d": detail},
            )
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
        rows = (
            await connection.execute(
                text("SELECT kind, detail, source, machine FROM message_events ORDER BY id")
            )
        ).all()
    assert [(kind, source, bool(machine)) for kind, _, source, machine in rows] == [
        ("sent", "sender", False),
        ("opened", "tracking", False),
        ("opened", "webhook", True),
        ("opened", "webhook", False),
        ("bounced", "webhook", False),
    ]
