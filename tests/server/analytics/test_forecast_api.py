"""GET /api/campaigns/{id}/forecast: the industry fallback says so, finished sends to the audience
move it (machine opens left out), every role that reads campaigns may ask, bad asks get 4xx."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import update

from justmaily.server.analytics import history
from justmaily.server.db.base import utcnow
from justmaily.server.delivery.models import MessageEvent, OutboxMessage, Send
from justmaily.server.services import services_of
from justmaily.shared.analytics import Metric
from justmaily.shared.delivery import EventKind, EventSource, MessageState, SendStatus
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.server.delivery.steps import add_contacts

PEOPLE = [{"email": f"p{i}@example.com", "name": f"P{i}"} for i in range(8)]


async def campaign(client: httpx.AsyncClient, team: Team) -> str:
    created = await client.post("/api/campaigns", json={"name": "Spring"}, headers=team[Role.EDITOR].headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def contact_ids(client: httpx.AsyncClient, team: Team) -> list[uuid.UUID]:
    found = await client.get("/api/contacts", params={"limit": 100}, headers=team[Role.EDITOR].headers)
    assert found.status_code == 200, found.text
    return [uuid.UUID(c["id"]) for c in found.json()["items"]]


async def finished_send(
    app: Litestar,
    team: Team,
    campaign_id: str,
    list_id: str,
    contacts: list[uuid.UUID],
    events: dict[EventKind, int],
    *,
    machine_opens: int = 0,
    age: timedelta = timedelta(days=1),
) -> None:
    """A send as the sender leaves it: every message sent, then its recipients' events."""
    async with services_of(app).database.session() as session, session.begin():
        when = utcnow() - age
        send = Send(
            workspace_id=team.workspace_id,
            campaign_id=uuid.UUID(campaign_id),
            status=SendStatus.DONE,
            list_id=uuid.UUID(list_id),
            content={},
            content_hash="0" * 64,
            send_at=when,
            recipients=len(contacts),
            created_by=team[Role.OWNER].id,
            started_at=when,
            finished_at=when,
        )
        session.add(send)
        await session.flush()
        messages = [
            OutboxMessage(
                send_id=send.id,
                contact_id=contact,
                state=MessageState.SENT,
                message_id=f"{uuid.uuid4().hex}@acme.example",
                sent_at=when,
            )
            for contact in contacts
        ]
        session.add_all(messages)
        await session.flush()

        def event(message: OutboxMessage, kind: EventKind, *, machine: bool = False) -> MessageEvent:
            return MessageEvent(
                workspace_id=team.workspace_id,
                send_id=send.id,
                message_id=message.id,
                contact_id=message.contact_id,
                kind=kind,
                occurred_at=when,
                source=EventSource.WEBHOOK if machine else EventSource.TRACKING,
                machine=machine,
            )

        for kind, count in events.items():
            # Each of these recipients did it twice: a rate counts recipients, not events.
            session.add_all(event(m, kind) for m in messages[:count] for _ in range(2))
        # Machine opens from the recipients who did not open themselves.
        opened = events.get(EventKind.OPENED, 0)
        session.add_all(
            event(m, EventKind.OPENED, machine=True) for m in messages[opened : opened + machine_opens]
        )


async def forecast(client: httpx.AsyncClient, team: Team, campaign_id: str, role: Role, **params: Any) -> Any:
    return await client.get(
        f"/api/campaigns/{campaign_id}/forecast", params=params, headers=team[role].headers
    )


async def test_with_no_history_it_falls_back_to_industry_rates_and_says_so(
    client: httpx.AsyncClient, team: Team
) -> None:
    list_id = await add_contacts(client, team, PEOPLE)
    campaign_id = await campaign(client, team)
    answer = await forecast(client, team, campaign_id, Role.ANALYST, list=list_id)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["recipients"] == len(PEOPLE)
    assert body["audience"] == f"list:{list_id}"
    assert body["basis"]["source"] == "industry"
    assert body["basis"]["campaigns"] == 0
    assert "no finished send yet" in body["basis"]["note"]
    assert "Mailchimp" in body["basis"]["note"]
    for metric in ("opens", "clicks", "unsubscribes"):
        rate = body[metric]
        assert rate["level"] == 0.9
        assert 0 <= rate["low"] <= rate["estimate"] <= rate["high"] <= 1


async def test_finished_sends_to_the_audience_move_the_forecast_without_machine_opens(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    list_id = await add_contacts(client, team, PEOPLE)
    campaign_id = await campaign(client, team)
    contacts = await contact_ids(client, team)
    for age in (3, 2, 1):
        await finished_send(
            app,
            team,
            campaign_id,
            list_id,
            contacts,
            {EventKind.OPENED: 6, EventKind.CLICKED: 3, EventKind.UNSUBSCRIBED: 1},
            machine_opens=2,
            age=timedelta(days=age),
        )
    async with services_of(app).database.session() as session:
        outcomes = await history.finished_sends(session, team.workspace_id)
    assert [o.counts for o in outcomes] == [
        {Metric.OPENS: 6, Metric.CLICKS: 3, Metric.UNSUBSCRIBES: 1}
    ] * 3  # the 2 machine opens of each send are not opens
    assert {o.recipients for o in outcomes} == {8}

    body = (await forecast(client, team, campaign_id, Role.REVIEWER, list=list_id)).json()
    basis = body["basis"]
    assert (basis["source"], basis["campaigns"], basis["recipients"]) == ("audience", 3, 24)
    assert (basis["audience_campaigns"], basis["audience_recipients"], basis["calibration_sends"]) == (
        3,
        24,
        3,
    )
    assert "3 finished sends to this audience" in basis["note"]
    # 75 % opened three times over: well above the 21 % industry anchor, shrunk toward it.
    assert 0.3 < body["opens"]["estimate"] < 0.75
    assert body["opens"]["low"] <= 0.75 <= body["opens"]["high"]


async def test_another_audience_leans_on_the_workspace(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    list_id = await add_contacts(client, team, PEOPLE)
    campaign_id = await campaign(client, team)
    await finished_send(
        app, team, campaign_id, list_id, await contact_ids(client, team), {EventKind.OPENED: 4}
    )
    segment = await client.post(
        "/api/segments",
        json={"name": "P", "filter": 'consent = "subscribed"'},
        headers=team[Role.EDITOR].headers,
    )
    assert segment.status_code == 201, segment.text
    body = (await forecast(client, team, campaign_id, Role.VIEWER, segment=segment.json()["id"])).json()
    assert body["audience"] == f"segment:{segment.json()['id']}"
    assert (body["basis"]["source"], body["basis"]["audience_campaigns"]) == ("workspace", 0)
    assert "no finished send to this audience yet" in body["basis"]["note"]


async def test_bad_asks_are_refused_with_problems(client: httpx.AsyncClient, team: Team) -> None:
    list_id = await add_contacts(client, team, PEOPLE)
    campaign_id = await campaign(client, team)
    empty = await client.post("/api/lists", json={"name": "Empty"}, headers=team[Role.EDITOR].headers)
    cases = [
        ({}, 422, "invalid_audience"),
        ({"list": list_id, "segment": str(uuid.uuid4())}, 422, "invalid_audience"),
        ({"list": str(uuid.uuid4())}, 404, "not_found"),
        ({"segment": str(uuid.uuid4())}, 404, "not_found"),
        ({"list": "not-a-uuid"}, 400, "validation_error"),
        ({"list": empty.json()["id"]}, 422, "empty_audience"),
    ]
    for params, status, code in cases:
        answer = await forecast(client, team, campaign_id, Role.ANALYST, **params)
        assert answer.status_code == status, (params, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == code, (params, answer.json())
    unknown = await forecast(client, team, str(uuid.uuid4()), Role.ANALYST, list=list_id)
    assert unknown.status_code == 404
    # Another workspace's member cannot learn about this campaign.
    rival = await client.get(
        f"/api/campaigns/{campaign_id}/forecast", params={"list": list_id}, headers=team.rival.headers
    )
    assert rival.status_code == 404


async def test_a_finished_send_without_its_finish_time_sorts_by_its_send_time(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    list_id = await add_contacts(client, team, PEOPLE)
    campaign_id = await campaign(client, team)
    contacts = await contact_ids(client, team)
    await finished_send(
        app, team, campaign_id, list_id, contacts, {EventKind.OPENED: 1}, age=timedelta(days=2)
    )
    await finished_send(
        app, team, campaign_id, list_id, contacts, {EventKind.OPENED: 5}, age=timedelta(days=1)
    )
    async with services_of(app).database.session() as session, session.begin():
        await session.execute(
            update(Send).where(Send.workspace_id == team.workspace_id).values(finished_at=None)
        )
    async with services_of(app).database.session() as session:
        outcomes = await history.finished_sends(session, team.workspace_id)
    assert [o.counts[Metric.OPENS] for o in outcomes] == [1, 5]
