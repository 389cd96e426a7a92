"""Each finished day's audit entries get a Merkle root in the transparency log, once."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import msgspec
from litestar import Litestar
from sqlalchemy import select

from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.protection.audit import audit_leaf
from justmaily.server.protection.models import AuditEntry
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.server.trust.audit_roots import AuditRoots
from justmaily.server.trust.models import LogEntry
from justmaily.shared.roles import Role
from justmaily.shared.trust import EntryKind
from justmaily.shared.verify.transparency import root_hash
from tests.plugins.api import Team

DAY_1 = datetime(2026, 12, 1, tzinfo=UTC)


def entry(at: datetime, action: str = "key.unwrap") -> AuditEntry:
    return AuditEntry(
        id=uuid.uuid4(),
        at=at,
        workspace_id=None,
        actor_kind="system",
        actor_id="sender",
        action=action,
        subject="data key v1",
        reason="send",
    )


async def logged_roots(database: Database) -> list[dict[str, object]]:
    async with database.session() as session:
        leaves = await session.scalars(
            select(LogEntry.leaf).where(LogEntry.kind == EntryKind.AUDIT_ROOT).order_by(LogEntry.index)
        )
        return [msgspec.json.decode(leaf) for leaf in leaves]


async def test_finished_days_get_one_root_each_which_the_entries_reproduce(settings: Settings) -> None:
    database = Database(settings)
    try:
        day_1 = [entry(DAY_1 + timedelta(hours=h)) for h in (1, 5, 23)]
        day_3 = [entry(DAY_1 + timedelta(days=2, hours=2), "kek.rewrap")]
        async with database.session() as session, session.begin():
            session.add_all([*day_1, *day_3])
        roots = AuditRoots()
        async with database.session() as session, session.begin():
            appended = await roots.append_due(session, DAY_1 + timedelta(days=3, hours=12))
        roots.committed()
        assert len(appended) == 2  # day 2 had no entries: no root
        logged = await logged_roots(database)
        assert [(r["day"], r["entries"]) for r in logged] == [("2026-12-01", 3), ("2026-12-03", 1)]
        assert logged[0]["root"] == base64.b64encode(root_hash([audit_leaf(e) for e in day_1])).decode()

        # Nothing twice: not from this process, nor from another one (a restart, a replica).
        async with database.session() as session, session.begin():
            assert await roots.append_due(session, DAY_1 + timedelta(days=3, hours=13)) == []
            assert await AuditRoots().append_due(session, DAY_1 + timedelta(days=3, hours=13)) == []
            # Today is not over: its entries wait for tomorrow.
            session.add(entry(DAY_1 + timedelta(days=3, hours=14)))
        async with database.session() as session, session.begin():
            assert await AuditRoots().append_due(session, DAY_1 + timedelta(days=3, hours=15)) == []
            assert len(await AuditRoots().append_due(session, DAY_1 + timedelta(days=4, hours=1))) == 1
        assert [r["day"] for r in await logged_roots(database)] == ["2026-12-01", "2026-12-03", "2026-12-04"]
    finally:
        await database.dispose()


async def test_a_running_server_logs_yesterdays_root(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    services = services_of(app)
    yesterday = utcnow() - timedelta(days=1)
    async with services.database.session() as session, session.begin():
        session.add(entry(yesterday))
    services.publisher.audit_roots = AuditRoots()  # start-up's round may have looked already
    with anyio.fail_after(20):
        while not (logged := await logged_roots(services.database)):
            services.publisher.wake()
            await anyio.sleep(0.05)
    assert [r["day"] for r in logged] == [yesterday.date().isoformat()]
    # Anyone in a workspace sees the root, as the log's other installation entries.
    async with services.database.session() as session:
        index = await session.scalar(select(LogEntry.index).where(LogEntry.kind == EntryKind.AUDIT_ROOT))
    seen = await client.get(f"/api/transparency/entries/{index}", headers=team[Role.VIEWER].headers)
    assert seen.status_code == 200, seen.text
    assert seen.json()["data"]["day"] == yesterday.date().isoformat()
