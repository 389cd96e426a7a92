"""Migration 0018: existing contacts', suppressions' and staged import rows' addresses are sealed
and keyed by their blind index; going back to 0016 opens them again."""

from __future__ import annotations

import uuid

import httpx
from alembic import command
from litestar import Litestar
from sqlalchemy import text

from justmaily.server.migrations.migrate import alembic_config
from justmaily.server.services import services_of
from justmaily.shared.roles import Role
from tests.plugins.api import Team


async def test_plaintext_addresses_are_sealed_and_a_downgrade_opens_them(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    editor = team[Role.EDITOR].headers
    created = await client.post("/api/contacts", json={"email": "Ada@Example.com"}, headers=editor)
    assert created.status_code == 201, created.text
    services = services_of(app)
    database, settings = services.database, services.settings
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync, settings), "0017"))
    async with database.engine.begin() as connection:
        # The downgrade opened what 0018 had sealed.
        rows = (await connection.execute(text("SELECT email, email_key, workspace_id FROM contacts"))).all()
        assert [(email, key) for email, key, _ in rows] == [("Ada@example.com", "ada@example.com")]
        workspace = rows[0][2]
        # Rows as 0016 wrote them: plaintext.
        await connection.execute(
            text(
                "INSERT INTO contacts (id, workspace_id, email, email_key, name, attributes, consent,"
                " consent_source, created_at, updated_at) VALUES (:id, :w, 'Bob@example.com',"
                " 'bob@example.com', 'Bob', '{}', 'subscribed', 'old', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"id": uuid.uuid4().hex if connection.dialect.name == "sqlite" else uuid.uuid4(), "w": workspace},
        )
        await connection.execute(
            text(
                "INSERT INTO suppressions (workspace_id, email_key, reason, detail, created_at)"
                " VALUES (:w, 'gone@example.com', 'bounced', '', CURRENT_TIMESTAMP)"
            ),
            {"w": workspace},
        )
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync, settings), "head"))
        keys = [key for (key,) in (await connection.execute(text("SELECT email_key FROM contacts"))).all()]
        sealed = [s for (s,) in (await connection.execute(text("SELECT email_sealed FROM contacts"))).all()]
    assert all(len(key) == 64 and "@" not in key for key in keys)
    assert all(bytes(cell).startswith(b"JM1") and b"example" not in bytes(cell) for cell in sealed)
    services.protection.forget()  # the keys the migration made are found again, as a restart would
    listed = (await client.get("/api/contacts", headers=editor)).json()["items"]
    assert sorted(c["email"] for c in listed) == ["Ada@example.com", "Bob@example.com"]
    bob = await client.get("/api/contacts", params={"filter": 'email = "BOB@example.com"'}, headers=editor)
    assert [c["name"] for c in bob.json()["items"]] == ["Bob"]
    suppressions = (await client.get("/api/suppressions", headers=editor)).json()["items"]
    assert [(s["email"], s["reason"]) for s in suppressions] == [("gone@example.com", "bounced")]
    again = await client.post("/api/contacts", json={"email": "bob@EXAMPLE.com"}, headers=editor)
    assert again.status_code == 409, again.text  # de-duplication by the blind index
