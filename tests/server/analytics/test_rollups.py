"""GET /api/sends/{id}/rollup: recipients who did each thing, per A/B variant and in all, machine
opens apart; events per hour or day in UTC; another workspace's send is not found."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from litestar import Litestar

from justmaily.server.db.base import utcnow
from justmaily.server.delivery.models import MessageEvent, OutboxMessage, Send
from justmaily.server.services import services_of
from justmaily.shared.delivery import EventKind, EventSource, MessageState, SendStatus
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.server.analytics.test_forecast_api import PEOPLE, campaign, contact_ids
from tests.server.delivery.steps import add_contacts

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night summer time starts in Europe


async def ab_send(
    app: Litestar, team: Team, campaign_id: str, list_id: str, contacts: list[uuid.UUID]
) -> str:
    """Variant 0 to the first half, 1 to the second; opens, a proxy's opens, a click, a bounce."""
    async with services_of(app).database.session() as session, session.begin():
        send = Send(
            workspace_id=team.workspace_id,
            campaign_id=uuid.UUID(campaign_id),
            status=SendStatus.DONE,
            list_id=uuid.UUID(list_id),
            content={},
            content_hash="0" * 64,
            send_at=T0,
            recipients=len(contacts),
            created_by=team[Role.OWNER].id,
            finished_at=utcnow(),
        )
        session.add(send)
        await session.flush()
        half = len(contacts) // 2
        messages = [
            OutboxMessage(
                send_id=send.id,
                contact_id=contact,
                state=MessageState.SENT,
                message_id=f"{uuid.uuid4().hex}@acme.example",
                variant=0 if i < half else 1,
                ab_sample=True,
            )
            for i, contact in enumerate(contacts)
        ]
        session.add_all(messages)
        await session.flush()

        def event(m: OutboxMessage, kind: EventKind, at: timedelta, *, machine: bool = False) -> MessageEvent:
            return MessageEvent(
                workspace_id=team.workspace_id,
                send_id=send.id,
                message_id=m.id,
                contact_id=m.contact_id,
                kind=kind,
                occurred_at=T0 + at,
                source=EventSource.TRACKING,
                machine=machine,
            )

        a, b, c, _, e, *_ = messages
        session.add_all(
            [
                event(a, EventKind.OPENED, timedelta(minutes=5)),
                event(a, EventKind.OPENED, timedelta(hours=2)),  # twice: one recipient
                event(a, EventKind.OPENED, timedelta(minutes=6), machine=True),  # and a proxy: still a person
                event(b, EventKind.OPENED, timedelta(minutes=1), machine=True),  # only the proxy
                event(a, EventKind.CLICKED, timedelta(hours=2, minutes=1)),
                event(e, EventKind.OPENED, timedelta(hours=25)),
                event(e, EventKind.BOUNCED, timedelta(minutes=1)),
                event(c, EventKind.SENT, timedelta(0)),  # not engagement
            ]
        )
    return str(send.id)


async def test_a_send_rolls_up_per_variant_and_per_hour_with_machine_opens_apart(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    list_id = await add_contacts(client, team, PEOPLE)
    campaign_id = await campaign(client, team)
    send_id = await ab_send(app, team, campaign_id, list_id, await contact_ids(client, team))

    answer = await client.get(f"/api/sends/{send_id}/rollup", headers=team[Role.REVIEWER].headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == {
        "recipients": 8,
        "delivered": 0,
        "opened": 2,
        "machine_opened": 1,
        "clicked": 1,
        "unsubscribed": 0,
        "bounced": 1,
        "complained": 0,
    }
    by_variant = {v["variant"]: v["counts"] for v in body["variants"]}
    assert (by_variant[0]["recipients"], by_variant[0]["opened"], by_variant[0]["machine_opened"]) == (
        4,
        1,
        1,
    )
    assert (by_variant[1]["recipients"], by_variant[1]["opened"], by_variant[1]["bounced"]) == (4, 1, 1)
    hours = [
        (b["start"], b["opened"], b["machine_opened"], b["clicked"], b["bounced"]) for b in body["buckets"]
    ]
    assert hours == [
        ("2026-03-29T00:00:00Z", 1, 2, 0, 1),
        ("2026-03-29T02:00:00Z", 1, 0, 1, 0),
        ("2026-03-30T01:00:00Z", 1, 0, 0, 0),
    ]
    days = (
        await client.get(f"/api/sends/{send_id}/rollup?bucket=day", headers=team[Role.VIEWER].headers)
    ).json()
    assert [(b["start"], b["opened"]) for b in days["buckets"]] == [
        ("2026-03-29T00:00:00Z", 2),
        ("2026-03-30T00:00:00Z", 1),
    ]

    week = await client.get(f"/api/sends/{send_id}/rollup?bucket=week", headers=team[Role.VIEWER].headers)
    assert week.status_code == 400
    rival = await client.get(f"/api/sends/{send_id}/rollup", headers=team.rival.headers)
    assert rival.status_code == 404
    unknown = await client.get(f"/api/sends/{uuid.uuid4()}/rollup", headers=team[Role.VIEWER].headers)
    assert unknown.status_code == 404
