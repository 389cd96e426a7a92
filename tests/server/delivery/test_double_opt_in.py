"""Double opt-in: a pending contact is e-mailed a link, and only confirming subscribes them."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import anyio
import httpx
from litestar import Litestar
from sqlalchemy import update

from justmaily.server.audiences.models import Confirmation
from justmaily.server.db.base import utcnow
from justmaily.server.services import services_of
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.plugins.smtp import Received, SmtpSink
from tests.server.delivery.steps import set_up_sending, verified_signatures


async def _arrived(sink: SmtpSink, count: int) -> None:
    deadline = time.monotonic() + 20
    while len(sink.received) < count:
        assert time.monotonic() < deadline, f"{len(sink.received)} confirmation e-mails, not {count}"
        await anyio.sleep(0.05)


async def test_a_pending_contact_is_subscribed_only_by_confirming(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    records = await set_up_sending(client, team, smtp_sink.url)
    editor = team[Role.EDITOR].headers
    created = await client.post(
        "/api/contacts", json={"email": "new@example.com", "name": "New Person"}, headers=editor
    )
    assert created.status_code == 201, created.text
    assert created.json()["consent"] == "pending"  # the default for contacts added through the API
    await _arrived(smtp_sink, 1)
    (mail,) = smtp_sink.received
    assert mail.recipient == "new@example.com"
    assert verified_signatures(mail, records) == [True, True]
    message = mail.message
    assert message["Subject"] == "Please confirm your subscription to Acme"
    assert message["List-Unsubscribe"] is None  # nothing to unsubscribe from yet
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://127\.0\.0\.1:8000(/c/[\w-]+)", text)
    assert link is not None

    page = await client.get(link.group(1))
    assert page.status_code == 200
    assert "n••@example.com" in page.text
    contact_url = f"/api/contacts/{created.json()['id']}"
    assert (await client.get(contact_url, headers=editor)).json()[
        "consent"
    ] == "pending"  # GET is not consent
    assert (await client.post(link.group(1)[:-2] + "xx")).status_code == 404  # forged
    confirmed = await client.post(link.group(1))
    assert confirmed.status_code == 200
    assert "subscribed" in confirmed.text
    contact = (await client.get(contact_url, headers=editor)).json()
    assert (contact["consent"], contact["consent_source"]) == ("subscribed", "double opt-in")
    again = await client.post(link.group(1))
    assert "Nothing to confirm" in again.text
    await anyio.sleep(0.6)  # the sender looks again: nothing more is sent
    assert len(smtp_sink.received) == 1
    assert urlsplit(link.group(1)).path.startswith("/c/")


async def test_an_expired_link_changes_nothing_and_offers_a_new_one(
    app: Litestar, client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, smtp_sink.url)
    editor = team[Role.EDITOR].headers
    created = await client.post("/api/contacts", json={"email": "late@example.com"}, headers=editor)
    contact_url = f"/api/contacts/{created.json()['id']}"
    await _arrived(smtp_sink, 1)
    old = _link(smtp_sink.received[0])
    ttl = services_of(app).settings.delivery.confirmation_link_ttl_seconds
    assert ttl == 7 * 24 * 3600  # the default
    async with services_of(app).database.session() as session, session.begin():
        await session.execute(
            update(Confirmation).values(sent_at=utcnow() - timedelta(seconds=ttl, minutes=1))
        )

    page = await client.get(old)
    assert page.status_code == 410
    assert "This link has expired" in page.text
    assert "7 days" in page.text
    assert f'action="{old}/renew"' in page.text
    refused = await client.post(old)
    assert refused.status_code == 410
    assert (await client.get(contact_url, headers=editor)).json()["consent"] == "pending"

    renewed = await client.post(f"{old}/renew")
    assert renewed.status_code == 200
    assert "l•••@example.com" in renewed.text
    await _arrived(smtp_sink, 2)
    new = _link(smtp_sink.received[1])
    assert new != old
    assert (await client.post(f"{old}/renew")).status_code == 200  # once per link: nothing more is sent
    assert (await client.post(f"{new}/renew")).status_code == 200  # still valid: nothing is sent
    confirmed = await client.post(new)
    assert (confirmed.status_code, "subscribed" in confirmed.text) == (200, True)
    assert (await client.get(contact_url, headers=editor)).json()["consent"] == "subscribed"
    assert "Nothing to confirm" in (await client.post(old)).text  # not "expired": nothing is pending
    await anyio.sleep(0.6)  # the sender looks again
    assert len(smtp_sink.received) == 2


def _link(mail: Received) -> str:
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://127\.0\.0\.1:8000(/c/[\w-]+)", text)
    assert link is not None
    return link.group(1)
