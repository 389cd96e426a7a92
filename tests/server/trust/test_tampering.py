"""An attacker with database access rewrites the log: the server refuses to sign over it.

Each case tampers with a real database (SQLite and PostgreSQL) as that attacker would, between
two runs of the server or while it runs, and checks that no new tree head is signed, that the
readiness probe says why, and that the publisher signs again once the log is what it signed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import text

from justmaily.server.app import create_app
from justmaily.server.db.append_only import append_only_guards
from justmaily.server.db.engine import Database
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.server.trust import merkle
from justmaily.server.trust.log import LogTamperedError, leaf_bytes, publish
from justmaily.shared.roles import Role
from justmaily.shared.trust import EntryKind
from justmaily.shared.verify.transparency import leaf_hash, root_hash
from tests.plugins.api import Team, seed_team, serving
from tests.server.delivery.steps import approved_campaign
from tests.server.trust.test_log_api import signed_head

LOG_TABLES = ("log_entries", "log_nodes", "tree_heads")


@asynccontextmanager
async def server(settings: Settings) -> AsyncIterator[tuple[Litestar, httpx.AsyncClient]]:
    app = create_app(settings)
    async with serving(app) as client:
        yield app, client


async def readiness_refusing(client: httpx.AsyncClient) -> dict[str, Any]:
    """The readiness answer once it reports the log refused (bounded wait)."""
    with anyio.fail_after(10):
        while True:
            response = await client.get("/health/ready")
            if "refusing" in response.json()["checks"].get("transparency_log", ""):
                assert response.status_code == 503
                return dict(response.json())
            await anyio.sleep(0.02)


async def readiness_ok(client: httpx.AsyncClient) -> None:
    with anyio.fail_after(10):
        while True:
            if (await client.get("/health/ready")).status_code == 200:
                return
            await anyio.sleep(0.02)


def _trigger_names(dialect: str, table: str) -> list[str]:
    return [statement.split()[2] for statement in append_only_guards(dialect, table)]


async def drop_guards(session: Any, tables: tuple[str, ...] = LOG_TABLES) -> None:
    dialect = session.get_bind().dialect.name
    for table in tables:
        for name in _trigger_names(dialect, table):
            on = f" ON {table}" if dialect == "postgresql" else ""
            await session.execute(text(f"DROP TRIGGER {name}{on}"))


async def restore_guards(session: Any, tables: tuple[str, ...] = LOG_TABLES) -> None:
    dialect = session.get_bind().dialect.name
    for table in tables:
        for statement in append_only_guards(dialect, table):
            await session.execute(text(statement))


async def rewrite_history(settings: Settings, *, edit_head: bool = False) -> bytes:
    """Swap the first approval's approvers, rebuild every tree node to match, put the guards
    back, and (`edit_head`) make the latest head's stored root the new one. Returns that root."""
    database = Database(settings)
    try:
        async with database.session() as session, session.begin():
            await drop_guards(session)
            rows = (
                await session.execute(text("SELECT log_index, leaf FROM log_entries ORDER BY log_index"))
            ).all()
            leaves = [bytes(leaf) for _, leaf in rows]
            index = next(
                i for i, leaf in enumerate(leaves) if msgspec.json.decode(leaf)["kind"] == "approval"
            )
            data = msgspec.json.decode(leaves[index])
            forged = {key: value for key, value in data.items() if key != "kind"}
            forged["approvers"] = ["00000000-0000-0000-0000-000000000000"]
            leaves[index] = leaf_bytes(EntryKind.APPROVAL, forged)
            await session.execute(
                text("UPDATE log_entries SET leaf = :leaf WHERE log_index = :index"),
                {"leaf": leaves[index], "index": index},
            )
            nodes: dict[tuple[int, int], bytes] = {}
            for position, leaf in enumerate(leaves):
                for level, at, value in merkle.append_nodes(
                    position, leaf_hash(leaf), lambda lv, p: nodes[(lv, p)]
                ):
                    nodes[(level, at)] = value
            await session.execute(text("DELETE FROM log_nodes"))
            await session.execute(
                text("INSERT INTO log_nodes (level, position, hash) VALUES (:level, :position, :hash)"),
                [{"level": lv, "position": p, "hash": h} for (lv, p), h in nodes.items()],
            )
            forged_root = root_hash(leaves)
            if edit_head:
                await session.execute(
                    text("UPDATE tree_heads SET root = :root WHERE size = :size"),
                    {"root": forged_root, "size": len(leaves)},
                )
            await restore_guards(session)
    finally:
        await database.dispose()
    return forged_root


async def _log_with_a_signed_head(settings: Settings) -> tuple[Team, dict[str, Any]]:
    async with server(settings) as (app, client):
        team = await seed_team(app)
        await approved_campaign(client, team, subject="Spring", body="Hello")
        head = await signed_head(client, team[Role.VIEWER].headers, 3)  # keys, then the approval
    return team, head


@pytest.mark.parametrize("edit_head", [False, True], ids=["entries-and-nodes", "and-the-head"])
async def test_a_rewritten_log_is_not_signed_over_after_a_restart(
    settings: Settings, edit_head: bool
) -> None:
    team, head = await _log_with_a_signed_head(settings)
    await rewrite_history(settings, edit_head=edit_head)

    async with server(settings) as (app, client):
        ready = await readiness_refusing(client)
        found = ready["checks"]["transparency_log"]
        if edit_head:
            assert f"tree head of {head['size']} entries was changed after it was signed" in found
        else:
            assert f"does not extend the tree head signed of {head['size']} entries" in found
        # The log still grows (approvals go on), but nothing is signed over it.
        await approved_campaign(client, team, subject="Summer", body="Hi")
        async with services_of(app).database.session() as session, session.begin():
            with pytest.raises(LogTamperedError):
                await publish(session, services_of(app).log_signer)
        await readiness_refusing(client)
        latest = (await client.get("/api/transparency/tree-head", headers=team[Role.VIEWER].headers)).json()
        assert latest["size"] == head["size"]
        assert latest["checkpoint"] == head["checkpoint"]


async def test_removed_guards_stop_the_signing_until_they_are_back(settings: Settings) -> None:
    team, head = await _log_with_a_signed_head(settings)
    async with server(settings) as (app, client):
        viewer = team[Role.VIEWER].headers
        async with services_of(app).database.session() as session, session.begin():
            await drop_guards(session, ("log_entries",))
        ready = await readiness_refusing(client)
        assert "append-only guards are not in force: log_entries_" in ready["checks"]["transparency_log"]
        await approved_campaign(client, team, subject="Summer", body="Hi")  # the log grows
        await readiness_refusing(client)
        assert (await client.get("/api/transparency/tree-head", headers=viewer)).json()["size"] == head[
            "size"
        ]

        async with services_of(app).database.session() as session, session.begin():
            await restore_guards(session, ("log_entries",))
        await readiness_ok(client)  # nothing was rewritten: the new head extends the old one
        newer = await signed_head(client, viewer, head["size"] + 1)
        assert newer["size"] > head["size"]


def _disabling(dialect: str) -> list[str]:
    """Ways to leave a guard in name only."""
    if dialect == "postgresql":
        return [
            "ALTER TABLE log_nodes DISABLE TRIGGER log_nodes_append_only",
            "CREATE OR REPLACE FUNCTION justmaily_append_only() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RETURN NEW; END $$",
        ]
    return [
        "DROP TRIGGER log_nodes_no_delete",
        "CREATE TRIGGER log_nodes_no_delete BEFORE DELETE ON log_nodes WHEN 0 BEGIN SELECT 1; END",
    ]


async def test_guards_left_in_name_only_are_found(settings: Settings) -> None:
    await _log_with_a_signed_head(settings)
    async with server(settings) as (app, client):
        async with services_of(app).database.session() as session, session.begin():
            for statement in _disabling(session.get_bind().dialect.name):
                await session.execute(text(statement))
        ready = await readiness_refusing(client)
        assert "log_nodes_" in ready["checks"]["transparency_log"]
