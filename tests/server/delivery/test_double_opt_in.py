"""Double opt-in: a pending contact is e-mailed a link, and only confirming subscribes them."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import anyio
import httpx

from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.plugins.smtp import SmtpSink
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
