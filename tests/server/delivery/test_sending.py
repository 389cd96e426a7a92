"""Sending through a real SMTP server on loopback: who gets what, signed, once; and the links."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar import Litestar

from justmaily.server.services import services_of
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.plugins.smtp import SmtpSink
from tests.server.delivery.steps import (
    add_contacts,
    approved_campaign,
    campaign_messages,
    set_up_sending,
    sink_messages,
    start_send,
    verified_signatures,
    wait_for_send,
)

BODY = "# Hello {{ first_name }}\n\nYour plan: **{{ plan | default('free') }}**. [Our shop](https://shop.example/spring?a=1&b=2)\n"
PEOPLE: list[dict[str, Any]] = [
    {"email": "ada@example.com", "name": "Ada Lovelace", "attributes": {"plan": "pro"}},
    {"email": "Grace@Example.org", "name": "Grace Hopper"},
    {"email": "alan@example.net", "name": "Alan Turing", "attributes": {"plan": "team"}},
    {"email": "pending@example.com", "name": "Pending", "consent": "pending"},
    {"email": "left@example.com", "name": "Left", "consent": "unsubscribed"},
    {"email": "bounced@example.com", "name": "Bounced"},
]


async def test_every_consenting_recipient_gets_one_signed_personalised_message(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    records = await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, PEOPLE)
    suppressed = await client.post(
        "/api/suppressions",
        json={"email": "bounced@example.com", "reason": "bounced"},
        headers=team[Role.EDITOR].headers,
    )
    assert suppressed.status_code == 201, suppressed.text
    campaign_id = await approved_campaign(client, team, subject="Spring for {{ first_name }}", body=BODY)

    send = await start_send(client, team, campaign_id, list_id=list_id)
    done = await wait_for_send(client, team[Role.VIEWER].headers, send["id"])

    got = sink_messages(smtp_sink)
    assert sorted(got) == ["Grace@example.org", "ada@example.com", "alan@example.net"]
    assert len(campaign_messages(smtp_sink)) == 3  # once each
    assert done["recipients"] == 3  # pending, unsubscribed and suppressed are never queued
    assert done["counts"]["sent"] == 3
    ada = got["ada@example.com"].message
    assert ada["Subject"] == "Spring for Ada"
    assert ada["From"] == "Acme News <news@acme.example>"
    assert ada["To"] == "Ada Lovelace <ada@example.com>"
    assert ada["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<http://127\.0\.0\.1:8000/u/[\w-]+>", str(ada["List-Unsubscribe"]))
    text = ada.get_body(("plain",))
    html = ada.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Your plan: **pro**" in text.get_content()
    assert "<strong>pro</strong>" in html.get_content()
    assert "shop.example" not in html.get_content()  # the link goes through the click tracker
    grace = got["Grace@example.org"].message
    assert "Your plan: **free**" in grace.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    message_ids = {r.message_id for r in campaign_messages(smtp_sink)}
    assert len(message_ids) == 3
    for received in campaign_messages(smtp_sink):
        assert verified_signatures(received, records) == [True, True]  # RSA and Ed25519
        assert received.mail_from == "news@acme.example"
    campaign = (await client.get(f"/api/campaigns/{campaign_id}", headers=team[Role.VIEWER].headers)).json()
    assert campaign["status"] == "sent"


async def test_tracking_links_record_engagement_and_unsubscribe_in_one_click(
    app: Litestar, client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, PEOPLE[:2])
    campaign_id = await approved_campaign(client, team, subject="Hi", body=BODY)
    send = await start_send(client, team, campaign_id, list_id=list_id)
    await wait_for_send(client, team[Role.VIEWER].headers, send["id"])
    ada = sink_messages(smtp_sink)["ada@example.com"].message
    html = ada.get_body(("html",)).get_content()  # type: ignore[union-attr]
    click_url = re.search(r'href="(http://127\.0\.0\.1:8000/t/c/[^"]+)"', html)
    open_url = re.search(r'src="(http://127\.0\.0\.1:8000/t/o/[^"]+)"', html)
    assert click_url
    assert open_url

    pixel = await client.get(urlsplit(open_url.group(1)).path)
    assert (pixel.status_code, pixel.headers["content-type"]) == (200, "image/gif")
    clicked = await client.get(urlsplit(click_url.group(1)).path)
    assert clicked.status_code == 302
    assert clicked.headers["location"] == "https://shop.example/spring?a=1&b=2"
    click_path = urlsplit(click_url.group(1)).path
    forged = click_path[:-3] + ("AAA" if not click_path.endswith("AAA") else "BBB")
    assert (await client.get(forged)).status_code == 404
    assert (await client.get("/t/c/not-a-token")).status_code == 404

    unsubscribe = urlsplit(str(ada["List-Unsubscribe"]).strip("<>")).path
    page = await client.get(unsubscribe)
    assert page.status_code == 200
    assert "a••@example.com" in page.text  # masked: the link may be forwarded
    assert "Acme" in page.text
    # RFC 8058: the mail client POSTs this body, without cookies or a page.
    done = await client.post(
        unsubscribe,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200, done.text

    view = (await client.get(f"/api/sends/{send['id']}", headers=team[Role.VIEWER].headers)).json()
    assert view["counts"]["opened"] == 1
    assert view["counts"]["clicked"] == 1
    assert view["counts"]["unsubscribed"] == 1
    contacts = (await client.get("/api/contacts", headers=team[Role.EDITOR].headers)).json()["items"]
    ada_contact = next(c for c in contacts if c["email"] == "ada@example.com")
    assert ada_contact["consent"] == "unsubscribed"
    assert ada_contact["suppressed"] == "unsubscribed"


@pytest.mark.backends("sqlite")
async def test_refusals_retries_and_relay_fallback(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    """A 550 suppresses, a 450 retries until accepted, a dead relay falls back to the next."""
    dead_relay = "smtp://127.0.0.1:9"  # discard port: nothing listens, connections are refused
    await set_up_sending(client, team, dead_relay, smtp_sink.url)
    smtp_sink.rcpt_replies = {
        "gone@example.com": "550 5.1.1 no such user",
        "busy@example.com": "450 4.2.1 mailbox busy",
    }
    smtp_sink.transient_rcpt = {"busy@example.com": 2}
    people = [{"email": e} for e in ("ok@example.com", "gone@example.com", "busy@example.com")]
    list_id = await add_contacts(client, team, people)
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
    send = await start_send(client, team, campaign_id, list_id=list_id)
    done = await wait_for_send(client, team[Role.VIEWER].headers, send["id"])

    assert sorted(smtp_sink.recipients()) == ["busy@example.com", "ok@example.com"]
    assert done["counts"]["sent"] == 2
    assert done["counts"]["failed"] == 1
    suppressions = (await client.get("/api/suppressions", headers=team[Role.EDITOR].headers)).json()["items"]
    assert [(s["email"], s["reason"]) for s in suppressions] == [("gone@example.com", "bounced")]
    assert "550" in suppressions[0]["detail"]


@pytest.mark.backends("sqlite")
async def test_a_send_pauses_with_an_alert_when_no_relay_works_and_resumes(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, "smtp://127.0.0.1:9")
    list_id = await add_contacts(client, team, [{"email": "ok@example.com"}])
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
    send = await start_send(client, team, campaign_id, list_id=list_id)
    paused = await wait_for_send(client, team[Role.VIEWER].headers, send["id"], ("paused",))
    assert "every relay is failing" in paused["alert"]
    assert paused["counts"]["queued"] == 1  # nothing lost

    owner = team[Role.OWNER].headers
    relay = await client.post(
        "/api/delivery/relays", json={"name": "good", "url": smtp_sink.url}, headers=owner
    )
    assert relay.status_code == 201
    resumed = await client.post(f"/api/sends/{send['id']}/resume", headers=team[Role.ADMIN].headers)
    assert resumed.status_code == 200, resumed.text
    await wait_for_send(client, team[Role.VIEWER].headers, send["id"])
    assert smtp_sink.recipients() == ["ok@example.com"]


@pytest.mark.backends("sqlite")
async def test_a_relay_asking_to_slow_down_gets_every_message_later(
    app: Litestar, client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, smtp_sink.url)
    smtp_sink.mail_reply, smtp_sink.mail_reply_times = "451 4.7.1 too many messages, slow down", 4
    list_id = await add_contacts(client, team, [{"email": f"p{i}@example.com"} for i in range(3)])
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
    send = await start_send(client, team, campaign_id, list_id=list_id)
    done = await wait_for_send(client, team[Role.VIEWER].headers, send["id"])
    assert (done["counts"]["sent"], done["counts"]["failed"]) == (3, 0)  # none dropped
    assert sorted(smtp_sink.recipients()) == [f"p{i}@example.com" for i in range(3)]
    sender = services_of(app).sender
    assert sender is not None
    (relay,) = sender.relays.rates().values()
    assert relay is not None  # the relay had asked to slow down: it has a rate now


@pytest.mark.backends("sqlite")
async def test_a_send_is_done_as_soon_as_its_last_message_is_stored(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not when the idle dispatcher next looks: with nothing to claim it sleeps, and the last
    stored messages wake it."""
    monkeypatch.setattr("justmaily.server.delivery.sender._IDLE_SECONDS", 60.0)
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, PEOPLE[:2])
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
    send = await start_send(client, team, campaign_id, list_id=list_id)
    done = await wait_for_send(client, team[Role.VIEWER].headers, send["id"], within=20)
    assert done["counts"]["sent"] == 2


async def test_temporary_refusals_in_one_group_send_every_message_once(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    """Many 451s answered at once are written in one group with the messages sent meanwhile:
    none of those results may be lost, so nothing is left in doubt and nothing goes out twice."""
    await set_up_sending(client, team, smtp_sink.url)
    smtp_sink.mail_reply, smtp_sink.mail_reply_times = "451 4.3.0 try again later", 30
    people = [{"email": f"p{i:02}@example.com"} for i in range(50)]
    list_id = await add_contacts(client, team, people)
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
    send = await start_send(client, team, campaign_id, list_id=list_id)
    done = await wait_for_send(client, team[Role.VIEWER].headers, send["id"], within=60)

    assert sorted(smtp_sink.recipients()) == sorted(p["email"] for p in people)  # each once
    assert (done["counts"]["sent"], done["counts"]["in_doubt"]) == (50, 0)
