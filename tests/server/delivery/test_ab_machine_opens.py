"""An A/B test by opens ignores a privacy proxy's opens: they say nothing of which subject people
preferred. Events are stored as the webhooks and tracking store them; the counts come from SQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from litestar import Litestar

from justmaily.server.db.base import utcnow
from justmaily.server.delivery.models import MessageEvent, OutboxMessage, Send
from justmaily.server.delivery.sends.ab_testing import VariantCounts, Verdict, pick_winner, variant_counts
from justmaily.server.services import services_of
from justmaily.shared.delivery import AbMetric, EventKind, EventSource, MessageState, SendStatus
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.server.analytics.test_forecast_api import campaign, contact_ids
from tests.server.delivery.steps import add_contacts

T0 = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
PEOPLE = [{"email": f"p{i}@example.com", "name": f"P{i}"} for i in range(20)]


async def test_machine_opens_neither_count_nor_win(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    list_id = await add_contacts(client, team, PEOPLE)
    campaign_id = await campaign(client, team)
    contacts = await contact_ids(client, team)
    async with services_of(app).database.session() as session, session.begin():
        send = Send(
            workspace_id=team.workspace_id,
            campaign_id=uuid.UUID(campaign_id),
            status=SendStatus.SENDING,
            list_id=uuid.UUID(list_id),
            content={},
            content_hash="0" * 64,
            send_at=T0,
            recipients=len(contacts),
            created_by=team[Role.OWNER].id,
            started_at=utcnow(),
        )
        session.add(send)
        await session.flush()
        messages = [
            OutboxMessage(
                send_id=send.id,
                contact_id=contact,
                state=MessageState.SENT,
                message_id=f"{uuid.uuid4().hex}@acme.example",
                variant=i % 2,
                ab_sample=True,
            )
            for i, contact in enumerate(contacts)
        ]
        session.add_all(messages)
        await session.flush()

        def event(m: OutboxMessage, kind: EventKind, *, machine: bool = False) -> MessageEvent:
            return MessageEvent(
                workspace_id=team.workspace_id,
                send_id=send.id,
                message_id=m.id,
                contact_id=m.contact_id,
                kind=kind,
                occurred_at=T0 + timedelta(minutes=5),
                source=EventSource.WEBHOOK,
                machine=machine,
            )

        first = [m for m in messages if m.variant == 0]
        second = [m for m in messages if m.variant == 1]
        session.add_all(
            [event(m, EventKind.OPENED) for m in first[:6]]  # six people open the original
            + [event(first[9], EventKind.OPENED, machine=True)]
            + [event(m, EventKind.OPENED, machine=True) for m in second]  # a proxy fetches all ten
            + [event(second[0], EventKind.CLICKED)]  # one of them a person clicked
        )

    async with services_of(app).database.session() as session:
        counts = await variant_counts(session, send.id)
    assert counts == {0: VariantCounts(10, 10, 6, 0), 1: VariantCounts(10, 10, 1, 1)}
    # Counting the proxy's opens, the second subject had 10 of 10 and would have won.
    assert pick_winner(counts, AbMetric.OPENS, 2, 0.95) == Verdict(0, conclusive=True)
