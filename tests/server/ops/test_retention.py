"""Retention: old records go, in batches, once a day; legal holds keep a workspace's records; a
purge a crash interrupted resumes with its cutoff; the policy file is checked with its line."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.delivery.models import MessageEvent
from justmaily.server.ops import retention_policy
from justmaily.server.ops.models import LegalHold, RetentionRun, SliMinute
from justmaily.server.ops.retention import Purger
from justmaily.server.services import services_of
from justmaily.shared.delivery import EventKind
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.server.ops.starting import refused_start

POLICIES = retention_policy.load()  # tracking 180 days, message events 730, indicators 400


async def seed_events(database: Database, team: Team, now: datetime) -> None:
    async with database.session() as session, session.begin():
        for workspace in (team.workspace_id, team.rival_workspace_id):
            for age_days, kind in ((200, EventKind.OPENED), (200, EventKind.CLICKED), (10, EventKind.OPENED)):
                for _ in range(3):
                    session.add(
                        MessageEvent(
                            workspace_id=workspace, kind=kind, occurred_at=now - timedelta(days=age_days)
                        )
                    )
            session.add(
                MessageEvent(
                    workspace_id=workspace, kind=EventKind.BOUNCED, occurred_at=now - timedelta(days=200)
                )
            )
        session.add(
            SliMinute(
                slo="availability", minute=int((now - timedelta(days=500)).timestamp()), good=1, total=1
            )
        )


async def events_of(database: Database, workspace: object) -> dict[tuple[str, int], int]:
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            select(MessageEvent.kind, MessageEvent.occurred_at, func.count())
            .where(MessageEvent.workspace_id == workspace)
            .group_by(MessageEvent.kind, MessageEvent.occurred_at)
        )
        found: dict[tuple[str, int], int] = {}
        for kind, occurred_at, count in rows:
            key = (str(kind), 200 if occurred_at < utcnow() - timedelta(days=100) else 10)
            found[key] = found.get(key, 0) + count
        return found


async def test_old_tracking_goes_except_under_a_legal_hold(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    database = services_of(app).database
    now = utcnow()
    await seed_events(database, team, now)
    placed = await client.post(
        "/api/retention/holds", json={"reason": "Litigation hold, case 7"}, headers=team[Role.OWNER].headers
    )
    assert placed.status_code == 201, placed.text
    done = await Purger(database, POLICIES, batch=2).purge_due(now)
    assert done["tracking"] == 6  # the rival's six old opens and clicks, in batches of two
    assert done["ops_indicators"] == 1
    held = await events_of(database, team.workspace_id)
    assert held == {("opened", 200): 3, ("clicked", 200): 3, ("opened", 10): 3, ("bounced", 200): 1}
    purged = await events_of(database, team.rival_workspace_id)
    assert purged == {("opened", 10): 3, ("bounced", 200): 1}  # bounces are kept 730 days
    # Released: the next day's purge takes the rest.
    hold_id = placed.json()["id"]
    released = await client.delete(f"/api/retention/holds/{hold_id}", headers=team[Role.OWNER].headers)
    assert released.status_code == 204
    again = await client.delete(f"/api/retention/holds/{hold_id}", headers=team[Role.OWNER].headers)
    assert again.status_code == 404
    assert await Purger(database, POLICIES).purge_due(now + timedelta(hours=1)) == {}  # once a day
    assert (await Purger(database, POLICIES).purge_due(now + timedelta(days=1)))["tracking"] == 6
    assert await events_of(database, team.workspace_id) == {("opened", 10): 3, ("bounced", 200): 1}


async def test_a_purge_cut_short_by_a_crash_resumes_with_its_cutoff_and_respects_a_new_hold(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    database = services_of(app).database
    now = utcnow()
    await seed_events(database, team, now)
    first = Purger(database, POLICIES, batch=2)
    first.holder = "replica-a:1"
    cut_short = await first.purge_due(now, max_batches=1)  # then "crashes"
    assert cut_short["tracking"] == 2
    async with database.session(read_only=True) as session:
        run = await session.scalar(select(RetentionRun).where(RetentionRun.kind == "tracking"))
    assert run is not None
    assert run.finished_at is None
    assert (run.deleted, run.batches) == (2, 1)
    # A hold on the workspace arrives before the run resumes.
    async with database.session() as session, session.begin():
        session.add(
            LegalHold(workspace_id=team.rival_workspace_id, reason="late hold", created_by=team.rival.id)
        )
    second = Purger(database, POLICIES, batch=2)
    second.holder = "replica-b:1"
    assert "tracking" not in await second.purge_due(now + timedelta(seconds=30))  # a's lease still runs
    resumed = await second.purge_due(now + timedelta(minutes=5))
    assert resumed["tracking"] == 4
    async with database.session(read_only=True) as session:
        finished = await session.get(RetentionRun, run.id)
    assert finished is not None
    assert finished.finished_at is not None
    assert (finished.cutoff, finished.deleted, finished.holder) == (run.cutoff, 6, "replica-b:1")
    # Six of the twelve old opens and clicks went: what the hold covers was never touched after it.
    total_old = 0
    for workspace in (team.workspace_id, team.rival_workspace_id):
        for (kind, age), count in (await events_of(database, workspace)).items():
            if age == 200 and kind in ("opened", "clicked"):
                total_old += count
    assert total_old == 6


async def test_the_retention_status_and_holds_are_for_owners_and_admins(
    client: httpx.AsyncClient, team: Team
) -> None:
    assert (await client.get("/api/retention", headers=team[Role.EDITOR].headers)).status_code == 403
    refused = await client.post(
        "/api/retention/holds", json={"reason": "x"}, headers=team[Role.ADMIN].headers
    )
    assert refused.status_code == 400
    status = await client.get("/api/retention", headers=team[Role.ADMIN].headers)
    assert status.status_code == 200
    kinds = {p["kind"]: p for p in status.json()["policies"]}
    assert kinds["tracking"]["days"] == 180
    assert kinds["access_logs"]["purged_by"] == "log platform"
    assert status.json()["holds"] == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[policy]]\nkind = "tracking"\ndays = 0\ndescription = "x"\n',
            "f.toml: line 3: Expected `int` >= 1",
        ),
        (
            '[[policy]]\nkind = "trackin"\ndays = 5\ndescription = "x"\n',
            "f.toml: line 1: unknown kind 'trackin'",
        ),
        ('[[policy]]\nkind = "tracking"\ndays = 5\ndescription = "x"\n', "no policy for message_events"),
    ],
)
def test_a_malformed_retention_file_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(retention_policy.RetentionFileError) as refused:
        retention_policy.parse(text, "f.toml")
    assert message in str(refused.value)


def test_the_server_refuses_to_start_with_a_malformed_retention_file(tmp_path: Path) -> None:
    broken = tmp_path / "retention.toml"
    broken.write_text('[[policy]]\nkind = "tracking"\ndays = -3\ndescription = "x"\n')
    stderr = refused_start(tmp_path, JUSTMAILY_RETENTION_FILE=str(broken))
    assert f"configuration error: {broken}: line 3: Expected `int` >= 1" in stderr
