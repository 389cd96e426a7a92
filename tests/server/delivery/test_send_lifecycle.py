"""A send's life: scheduled for a zoned time, cancelled, sent now, paused; and what it refuses."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from urllib.parse import quote

import anyio
import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text as sql

from justmaily.server.db.base import utcnow
from justmaily.server.services import services_of
from justmaily.shared.document import review_state, text
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.plugins.smtp import SmtpSink, start_sink
from tests.server.delivery.steps import (
    add_contacts,
    approved_campaign,
    set_up_sending,
    start_send,
    wait_for_send,
)
from tests.support.polling import eventually


async def _campaign_status(client: httpx.AsyncClient, team: Team, campaign_id: str) -> str:
    return str(
        (await client.get(f"/api/campaigns/{campaign_id}", headers=team[Role.VIEWER].headers)).json()[
            "status"
        ]
    )


async def test_schedule_cancel_send_and_what_sending_freezes(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, [{"email": "ada@example.com"}])
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
    sends, admin = f"/api/campaigns/{campaign_id}/sends", team[Role.ADMIN].headers
    for send_at in ("2030-01-01T09:00:00", (utcnow() - timedelta(hours=1)).isoformat()):
        bad = await client.post(sends, json={"list_id": list_id, "send_at": send_at}, headers=admin)
        assert (bad.status_code, bad.json()["code"]) == (422, "invalid_send_at"), send_at
    when = (utcnow() + timedelta(days=2)).isoformat()
    scheduled = await client.post(sends, json={"list_id": list_id, "send_at": when}, headers=admin)
    assert scheduled.status_code == 201, scheduled.text
    assert scheduled.json()["status"] == "scheduled"
    assert await _campaign_status(client, team, campaign_id) == "scheduled"
    archived = await client.post(f"/api/campaigns/{campaign_id}/archive", headers=team[Role.EDITOR].headers)
    assert (archived.status_code, archived.json()["code"]) == (409, "busy")

    cancelled = await client.post(f"/api/sends/{scheduled.json()['id']}/cancel", headers=admin)
    assert cancelled.json()["status"] == "cancelled"
    assert await _campaign_status(client, team, campaign_id) == "approved"  # nothing went out: unscheduled

    now = await start_send(client, team, campaign_id, list_id=list_id)
    frozen = await client.patch(
        f"/api/campaigns/{campaign_id}", json={"subject": "late change"}, headers=team[Role.EDITOR].headers
    )
    assert (frozen.status_code, frozen.json()["code"]) == (409, "not_editable")
    await wait_for_send(client, team[Role.VIEWER].headers, now["id"])
    assert await _campaign_status(client, team, campaign_id) == "sent"
    assert smtp_sink.recipients() == ["ada@example.com"]
    again = await client.post(sends, json={"list_id": list_id}, headers=admin)
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")


@pytest.mark.backends("sqlite")
async def test_a_send_is_refused_until_everything_it_needs_is_there(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    admin, editor = team[Role.ADMIN].headers, team[Role.EDITOR].headers
    list_id = await add_contacts(client, team, [{"email": "ada@example.com"}])
    draft = (
        await client.post(
            "/api/campaigns", json={"name": "Draft", "sender": "a@acme.example"}, headers=editor
        )
    ).json()
    refused = await client.post(
        f"/api/campaigns/{draft['id']}/sends", json={"list_id": list_id}, headers=admin
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_transition")

    campaign_id = await approved_campaign(client, team, subject="Hi {{ frist_name }}", body="Hello")
    sends = f"/api/campaigns/{campaign_id}/sends"
    no_audience = await client.post(sends, json={}, headers=admin)
    assert (no_audience.status_code, no_audience.json()["code"]) == (422, "invalid_audience")
    no_domain = await client.post(sends, json={"list_id": list_id}, headers=admin)
    assert (no_domain.status_code, no_domain.json()["code"]) == (409, "no_sending_domain")
    owner = team[Role.OWNER].headers
    assert (
        await client.post("/api/delivery/domains", json={"domain": "acme.example"}, headers=owner)
    ).status_code == 201
    no_relay = await client.post(sends, json={"list_id": list_id}, headers=admin)
    assert (no_relay.status_code, no_relay.json()["code"]) == (409, "no_relay")
    bad_relay = await client.post(
        "/api/delivery/relays", json={"name": "x", "url": "http://relay"}, headers=owner
    )
    assert (bad_relay.status_code, bad_relay.json()["code"]) == (422, "invalid_relay_url")
    relay = await client.post("/api/delivery/relays", json={"name": "x", "url": smtp_sink.url}, headers=owner)
    assert relay.status_code == 201
    unknown_field = await client.post(sends, json={"list_id": list_id}, headers=admin)
    assert (unknown_field.status_code, unknown_field.json()["code"]) == (422, "invalid_content")
    assert "frist_name" in unknown_field.json()["detail"]
    relays = (await client.get("/api/delivery/relays", headers=owner)).json()
    assert all("password" not in r and "secret" not in r["url"] for r in relays)
    assert smtp_sink.received == []
    assert await _campaign_status(client, team, campaign_id) == "approved"


@pytest.mark.backends("postgresql")
async def test_a_sender_whose_lock_session_ends_stops_and_takes_the_lock_again(
    app: Litestar, client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    """A database restart ends the advisory lock's session: another replica could send then.
    The sender stops, takes the lock again, and sends as before."""
    holder = sql(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    sender = services_of(app).sender
    assert sender is not None
    with anyio.fail_after(10):
        await sender.running.wait()
    async with services_of(app).database.session() as session:
        (first,) = (await session.execute(holder)).scalars().all()
        await session.execute(sql("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await session.commit()
    deadline = time.monotonic() + 20
    while True:
        async with services_of(app).database.session(read_only=True) as session:
            holders = (await session.execute(holder)).scalars().all()
        if holders and holders[0] != first:
            break
        assert time.monotonic() < deadline, "the sender did not take the lock again"
        await anyio.sleep(0.2)
    assert sender.running.is_set()
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, [{"email": "after@example.com"}])
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
    send = await start_send(client, team, campaign_id, list_id=list_id)
    await wait_for_send(client, team[Role.VIEWER].headers, send["id"])
    assert smtp_sink.recipients() == ["after@example.com"]


class _SlowSink(SmtpSink):
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        await asyncio.sleep(0.1)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.backends("postgresql")
async def test_losing_the_lock_mid_send_loses_no_message(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    """Claimed messages of the run that lost its lock are sent by the next run, not forgotten."""
    sink = _SlowSink()
    controller = start_sink(sink)
    try:
        await set_up_sending(client, team, sink.url)
        people = [{"email": f"p{i:03d}@example.com"} for i in range(400)]
        list_id = await add_contacts(client, team, people)
        campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
        send = await start_send(client, team, campaign_id, list_id=list_id)
        deadline = time.monotonic() + 20
        while len(sink.received) < 20:
            assert time.monotonic() < deadline
            await anyio.sleep(0.02)
        async with services_of(app).database.session() as session:
            await session.execute(
                sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
            await session.commit()
        done = await wait_for_send(client, team[Role.VIEWER].headers, send["id"], within=60)
        assert set(sink.recipients()) == {p["email"] for p in people}
        assert done["counts"]["sent"] == 400
    finally:
        controller.stop()


@pytest.mark.backends("sqlite")
async def test_a_cancel_stops_messages_already_claimed(client: httpx.AsyncClient, team: Team) -> None:
    """Claimed but not yet handed off: the hand-off finds the message cancelled and drops it."""
    sink = _SlowSink()
    controller = start_sink(sink)
    try:
        await set_up_sending(client, team, sink.url)
        list_id = await add_contacts(client, team, [{"email": f"c{i:03d}@example.com"} for i in range(120)])
        campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
        send = await start_send(client, team, campaign_id, list_id=list_id)
        deadline = time.monotonic() + 20
        while len(sink.received) < 3:
            assert time.monotonic() < deadline
            await anyio.sleep(0.01)
        cancelled = await client.post(f"/api/sends/{send['id']}/cancel", headers=team[Role.ADMIN].headers)
        assert cancelled.status_code == 200
        await anyio.sleep(1.0)  # what was handed off before the cancel finishes
        view = (await client.get(f"/api/sends/{send['id']}", headers=team[Role.VIEWER].headers)).json()
        counts = view["counts"]
        assert counts["sent"] == len(sink.received) < 60  # no cancelled message went out
        assert counts["sent"] + counts["cancelled"] == 120
        assert counts["queued"] == counts["sending"] == 0
        # What went out before the cancel is on the record like a finished send's (docs/trust.md):
        # its messages can be proven (409 only until a tree head covers the entry).
        message_id = quote(sink.received[0].message_id, safe="")
        deadline = time.monotonic() + 10
        while True:
            proof = await client.get(
                f"/api/transparency/messages/{message_id}/proof", headers=team[Role.VIEWER].headers
            )
            if proof.status_code in (200, 409):
                break
            assert proof.status_code == 404, proof.text
            assert time.monotonic() < deadline, "the cancelled send was never recorded"
            await anyio.sleep(0.1)
    finally:
        controller.stop()


async def test_the_senders_moves_reach_the_campaigns_live_document(
    app: Litestar, client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    """Open editors show the status from the document: the sender's moves (sending, sent), made
    without any request, are written there too once committed."""
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, [{"email": "live@example.com"}])
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
    send = await start_send(client, team, campaign_id, list_id=list_id)
    await wait_for_send(client, team[Role.VIEWER].headers, send["id"])
    rooms = services_of(app).rooms
    room = await rooms.acquire(uuid.UUID(campaign_id), team.workspace_id)
    changed = anyio.Event()

    def on_change(_event: object) -> None:
        changed.set()

    subscription = room.doc.observe(on_change)
    try:
        with anyio.fail_after(10):
            while review_state(room.doc).status != "sent":
                await changed.wait()
                changed = anyio.Event()
    finally:
        room.doc.unobserve(subscription)
        await rooms.release(room)


async def test_a_send_sends_what_was_approved_not_what_the_live_room_holds(
    app: Litestar, client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    """The approved content is the version kept when the campaign was sent to review: a live
    document that moved on since (an edit not yet stored, which would void the approval once it
    is) changes nothing in what is sent."""
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, [{"email": "frozen@example.com"}])
    campaign_id = await approved_campaign(client, team, subject="Approved subject", body="Approved body")
    rooms = services_of(app).rooms
    room = await rooms.acquire(uuid.UUID(campaign_id), team.workspace_id)
    try:
        # The approval's review state is shown in the document and stored (its row check done)
        # after the approval commits: only then is an edit left unstored on purpose.
        await eventually(
            lambda: review_state(room.doc).status == "approved" and room.unstored == 0, within=10
        )
        subject = text(room.doc, "subject")
        with room.doc.transaction():
            subject.insert(len(str(subject)), " and an unstored edit")
        send = await start_send(client, team, campaign_id, list_id=list_id)
    finally:
        await rooms.release(room)
    await wait_for_send(client, team[Role.VIEWER].headers, send["id"])
    (received,) = smtp_sink.received
    assert received.message["Subject"] == "Approved subject"
    assert "Approved body" in received.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
