"""Migration 0011: comments leave the content hash, and no approval is voided by the upgrade."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import msgspec
from alembic import command
from litestar import Litestar
from sqlalchemy import Uuid, bindparam, text

from justmaily.server.migrations.migrate import alembic_config
from justmaily.server.services import services_of
from justmaily.shared.collaboration import LATER_TEXTS
from justmaily.shared.document import comments, load_document, texts
from justmaily.shared.roles import Role
from tests.plugins.api import Team


def former_hash(updates: list[bytes]) -> str:
    """The content hash as it was made while comments counted."""
    doc = load_document(updates)
    values = {name: value for name, value in texts(doc).items() if value or name not in LATER_TEXTS}
    canonical = msgspec.json.encode({"texts": values, "comments": comments(doc)}, order="sorted")
    return hashlib.sha256(canonical).hexdigest()


async def test_an_approval_made_while_comments_counted_survives_the_upgrade(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    editor, reviewer = team[Role.EDITOR].headers, team[Role.REVIEWER].headers
    ids: dict[str, str] = {}
    for name, comment in (("with comments", True), ("without", False)):
        campaign = (
            await client.post("/api/campaigns", json={"name": name, "subject": "Hi"}, headers=editor)
        ).json()
        cid = campaign["id"]
        assert (
            await client.patch(f"/api/campaigns/{cid}/content", json={"body": "Hello"}, headers=editor)
        ).status_code == 200
        if comment:
            added = await client.post(
                f"/api/campaigns/{cid}/comments",
                json={"text": "Nice", "start": 0, "end": 5},
                headers=reviewer,
            )
            assert added.status_code == 201
        for action, who in (("submit", editor), ("approve", reviewer)):
            moved = await client.post(
                f"/api/campaigns/{cid}/transitions", json={"action": action}, headers=who
            )
            assert moved.status_code == 200, moved.text
        ids[name] = cid
    new_hash = {
        name: (await client.get(f"/api/campaigns/{cid}/content", headers=editor)).json()["content_hash"]
        for name, cid in ids.items()
    }
    assert new_hash["with comments"] == new_hash["without"]  # the same texts; comments do not count

    database = services_of(app).database
    # As it was before the upgrade: the approval of the commented campaign holds the former hash.
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0010"))
    async with database.engine.begin() as connection:
        commented = uuid.UUID(ids["with comments"])
        rows = await connection.execute(
            text("SELECT data FROM document_updates WHERE campaign_id = :id ORDER BY id").bindparams(
                bindparam("id", type_=Uuid())
            ),
            {"id": commented},
        )
        former = former_hash([bytes(row[0]) for row in rows])
        assert former != new_hash["with comments"]
        await connection.execute(
            text("UPDATE campaigns SET review_hash = :h, approved_hash = :h WHERE id = :id").bindparams(
                bindparam("id", type_=Uuid())
            ),
            {"h": former, "id": commented},
        )
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))

    found: dict[str, Any] = {}
    for name, cid in ids.items():
        found[name] = (await client.get(f"/api/campaigns/{cid}", headers=editor)).json()
    # The document still hashes to what was reviewed, now in the new form; the certified hash stays.
    assert (found["with comments"]["review_hash"], found["with comments"]["approved_hash"]) == (
        new_hash["with comments"],
        former,
    )
    assert found["without"]["review_hash"] == found["without"]["approved_hash"] == new_hash["without"]
    assert {c["status"] for c in found.values()} == {"approved"}
    # A comment after the upgrade voids nothing.
    added = await client.post(
        f"/api/campaigns/{ids['with comments']}/comments",
        json={"text": "Still fine", "start": 0, "end": 0},
        headers=reviewer,
    )
    assert added.status_code == 201
    again = (await client.get(f"/api/campaigns/{ids['with comments']}", headers=editor)).json()
    assert again["status"] == "approved"
