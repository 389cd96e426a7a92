"""Imports of other platforms' events: the generic CSV read row by row, the whole file or nothing,
the same file twice adds nothing, contacts matched by address, imported campaigns feed forecasts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from justmaily.server.analytics.imports import generic
from justmaily.server.analytics.imports.rows import FileRefused
from justmaily.server.analytics.models import EventImport, ImportedCampaign
from justmaily.server.delivery.models import MessageEvent
from justmaily.server.services import services_of
from justmaily.shared.delivery import EventKind, EventSource
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.server.delivery.steps import add_contacts

HEADER = "campaign,subject,sent_at,email,event,occurred_at,machine\n"
# Spring's send time written in two offsets (one instant), and its events across a DST change.
GOOD = HEADER + (
    "Spring,Spring is here,2026-03-28T09:00:00+01:00,ada@example.com,sent,2026-03-28T09:00:05+01:00,\n"
    "Spring,Spring is here,2026-03-28T08:00:00Z,bob@example.com,sent,2026-03-28T09:00:06+01:00,\n"
    "Spring,Spring is here,2026-03-28T09:00:00+01:00,ada@example.com,open,2026-03-29T10:00:00+02:00,false\n"
    "Spring,Spring is here,2026-03-28T09:00:00+01:00,bob@example.com,open,2026-03-28T09:01:00+01:00,true\n"
    "Spring,Spring is here,2026-03-28T09:00:00+01:00,Ada@Example.com,click,2026-03-29T10:01:00+02:00,\n"
    "Spring,Spring is here,2026-03-28T09:00:00+01:00,nobody@example.com,open,2026-03-29T10:01:00+02:00,\n"
)


def test_a_good_file_reads_into_utc_events_and_a_time_zone_change_is_one_instant() -> None:
    parsed = generic.parse(GOOD.encode())
    assert parsed.rows == 6
    assert parsed.issues == []
    assert {e.sent_at for e in parsed.events} == {datetime(2026, 3, 28, 8, 0, tzinfo=UTC)}
    kinds = [(e.address, e.kind, e.machine) for e in parsed.events]
    assert kinds[:5] == [
        ("ada@example.com", EventKind.SENT, False),
        ("bob@example.com", EventKind.SENT, False),
        ("ada@example.com", EventKind.OPENED, False),
        ("bob@example.com", EventKind.OPENED, True),
        ("Ada@example.com", EventKind.CLICKED, False),  # the domain normalised as contacts store it
    ]
    # The open after the change to summer time is still after the click before... in UTC.
    assert parsed.events[2].occurred_at == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "row", "says"),
    [
        (
            HEADER + "Spring,S,2026-03-28T09:00:00,ada@example.com,open,2026-03-28T09:00:00Z,\n",
            2,
            "no time zone",
        ),
        (
            HEADER + "Spring,S,2026-03-28T09:00:00Z,ada@example.com,opened it,2026-03-28T09:00:00Z,\n",
            2,
            "event",
        ),
        (
            HEADER + "Spring,S,2026-03-28T09:00:00Z,not an address,open,2026-03-28T09:00:00Z,\n",
            2,
            "not an address",
        ),
        (
            HEADER + "Spring,S,2026-03-28T09:00:00Z,ada@example.com,open,2026-03-28T09:00:00Z,maybe\n",
            2,
            "machine",
        ),
        (
            HEADER + ",S,2026-03-28T09:00:00Z,ada@example.com,open,2026-03-28T09:00:00Z,\n",
            2,
            "campaign is empty",
        ),
        # Cut short in the middle of its last row.
        (GOOD + "Spring,Spring is here,2026-03-28T09:00:00+01:00,ada@exa", 8, "cut or shifted"),
    ],
)
def test_each_bad_row_is_reported_with_its_line(text: str, row: int, says: str) -> None:
    parsed = generic.parse(text.encode())
    assert [issue.row for issue in parsed.issues] == [row]
    assert says in parsed.issues[0].message


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"email,name\nada@example.com,Ada\n", "not a generic CSV file"),  # a contacts file
        (
            b"Email Address,Campaign Title,Opens\nada@example.com,Spring,1\n",  # another platform's
            "column(s) campaign, subject, sent_at, email, event, occurred_at missing",
        ),
        (HEADER.encode() + b'"Spring,S,2026-03-28T09:00:00Z,ada@example.com,open', "cut short"),
        (
            HEADER.encode() + b"Spring,\xff\xfe,2026-03-28T09:00:00Z,a@b.c,open,2026-03-28T09:00:00Z,\n",
            "UTF-8",
        ),
    ],
)
def test_a_file_of_another_kind_or_unreadable_is_refused_whole(data: bytes, says: str) -> None:
    with pytest.raises(FileRefused) as refused:
        generic.parse(data)
    assert says in refused.value.reason


async def _stored(app: Litestar, team: Team) -> tuple[int, int, int]:
    async with services_of(app).database.session() as session:
        events = await session.scalar(
            select(func.count()).where(
                MessageEvent.workspace_id == team.workspace_id, MessageEvent.source == EventSource.IMPORT
            )
        )
        campaigns = await session.scalar(select(func.count()).select_from(ImportedCampaign))
        imports = await session.scalar(select(func.count()).select_from(EventImport))
    return int(events or 0), int(campaigns or 0), int(imports or 0)


async def post(client: httpx.AsyncClient, team: Team, text: str, role: Role = Role.EDITOR) -> httpx.Response:
    return await client.post(
        "/api/analytics/imports",
        content=text.encode(),
        headers={**team[role].headers, "Content-Type": "text/csv"},
    )


async def test_importing_matches_contacts_and_the_same_file_twice_adds_nothing(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    await add_contacts(client, team, [{"email": "ada@example.com"}, {"email": "bob@example.com"}])
    first = await post(client, team, GOOD)
    assert first.status_code == 201, first.text
    report = first.json()
    assert (report["rows"], report["added"], report["already"], report["unmatched"]) == (6, 5, 0, 1)
    assert report["issues"] == [
        {"row": 7, "message": "the address is none of the workspace's contacts: not imported"}
    ]
    assert await _stored(app, team) == (5, 1, 1)

    again = await post(client, team, GOOD)
    assert again.status_code == 201, again.text
    assert (again.json()["added"], again.json()["already"]) == (0, 5)
    assert await _stored(app, team) == (5, 1, 2)

    # A row repeated inside one file is one event.
    doubled = HEADER + GOOD.splitlines(keepends=True)[3] * 2
    assert (await post(client, team, doubled)).json()["already"] == 2

    listed = await client.get("/api/analytics/imports", headers=team[Role.ANALYST].headers)
    assert listed.status_code == 200
    assert [r["added"] for r in listed.json()] == [0, 0, 5]


async def test_a_file_larger_than_a_batch_keeps_its_guarantees_across_batches(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    """Written in batches (5,000 events): a row repeated in a later batch is still one event,
    an unknown address in a later batch is still reported with its line, then nothing twice."""
    await add_contacts(client, team, [{"email": "ada@example.com"}, {"email": "bob@example.com"}])
    rows = [
        f"Big,Big news,2026-03-28T08:00:00Z,{('ada', 'bob')[i % 2]}@example.com,open,"
        f"2026-03-28T{8 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z,\n"
        for i in range(11_000)
    ]
    text = HEADER + "".join(rows) + rows[0] + rows[7001].replace("bob@", "nobody@")
    first = await post(client, team, text)
    assert first.status_code == 201, first.text
    report = first.json()
    assert (report["rows"], report["added"], report["already"], report["unmatched"]) == (11_002, 11_000, 1, 1)
    assert report["issues"] == [
        {"row": 11_003, "message": "the address is none of the workspace's contacts: not imported"}
    ]
    again = (await post(client, team, text)).json()
    assert (again["added"], again["already"]) == (0, 11_001)
    async with services_of(app).database.session() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(MessageEvent)
            .where(MessageEvent.workspace_id == team.workspace_id)
        )
    assert stored == 11_000


async def test_a_file_with_bad_rows_writes_nothing_and_reports_every_row(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    await add_contacts(client, team, [{"email": "ada@example.com"}, {"email": "bob@example.com"}])
    bad = (
        GOOD
        + "Spring,Spring is here,2026-03-28T10:00:00+01:00,ada@example.com,open,2026-03-28T11:00:00Z,\n"
        + "Summer,Hot,2026-06-01T09:00:00,bob@example.com,open,2026-06-01T10:00:00Z,\n"
        + "Summer,Hot,2026-06-01T09:00:00Z,bob@example.com,sent"
    )
    refused = await post(client, team, bad)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["code"] == "import_refused"
    assert [e["field"] for e in problem["errors"]] == ["row 8", "row 9", "row 10"]
    assert "was sent at" in problem["errors"][0]["message"]  # the campaign's send time disagrees
    assert "no time zone" in problem["errors"][1]["message"]
    assert await _stored(app, team) == (0, 0, 0)

    other = await post(client, team, "email,name\nada@example.com,Ada\n")
    assert other.status_code == 422
    assert "not a generic CSV file" in other.json()["detail"]
    assert await _stored(app, team) == (0, 0, 0)


async def test_only_roles_that_write_contacts_import_and_analysts_read_the_reports(
    client: httpx.AsyncClient, team: Team
) -> None:
    assert (await post(client, team, GOOD, Role.ANALYST)).status_code == 403
    assert (await post(client, team, GOOD, Role.REVIEWER)).status_code == 403
    assert (await client.get("/api/analytics/imports", headers=team[Role.VIEWER].headers)).status_code == 403
    assert (await client.get("/api/analytics/imports", headers=team[Role.ANALYST].headers)).status_code == 200


async def test_imported_campaigns_feed_the_forecast_without_machine_opens(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    list_id = await add_contacts(client, team, [{"email": "ada@example.com"}, {"email": "bob@example.com"}])
    assert (await post(client, team, GOOD)).status_code == 201
    created = await client.post("/api/campaigns", json={"name": "Next"}, headers=team[Role.EDITOR].headers)
    campaign_id = created.json()["id"]
    answer = await client.get(
        f"/api/campaigns/{campaign_id}/forecast", params={"list": list_id}, headers=team[Role.ANALYST].headers
    )
    assert answer.status_code == 200, answer.text
    basis = answer.json()["basis"]
    assert (basis["source"], basis["campaigns"], basis["recipients"]) == ("workspace", 1, 2)

    from justmaily.server.analytics import history

    async with services_of(app).database.session() as session:
        (outcome,) = await history.finished_sends(session, team.workspace_id)
    # Ada opened herself; Bob's only open was a proxy's: one human open of two recipients.
    assert outcome.audience == "imported:generic"
    assert outcome.recipients == 2
    assert dict(outcome.counts) == {"opens": 1, "clicks": 1}
    assert uuid.UUID(campaign_id)
