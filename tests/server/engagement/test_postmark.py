"""Postmark's webhooks: records with the webhook URL's Basic credentials become our events; wrong
or missing credentials are refused and change nothing; the credentials are never answered back."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from justmaily.server.engagement.webhooks.common import WebhookRejected
from justmaily.server.engagement.webhooks.postmark import check_credentials, parse_postmark
from justmaily.shared.delivery import EventKind
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.plugins.smtp import SmtpSink
from tests.server.delivery.steps import (
    add_contacts,
    approved_campaign,
    set_up_sending,
    start_send,
    wait_for_send,
)

CREDENTIALS = "postmark:s3cret-Xk2"
OUR_ID = "0b5c3c524d2c4a519d3e6a0f0f7c2b1e@mail.justmaily.example"


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def bounce(**extra: Any) -> dict[str, Any]:
    return {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "Test bounce details",
        "Email": "ada@example.com",
        "BouncedAt": "2019-11-05T16:33:54.9070259Z",
        "Metadata": {"justmaily_message_id": f"<{OUR_ID}>"},
        **extra,
    }


def test_records_become_our_events() -> None:
    (hard,) = parse_postmark(json.dumps(bounce()).encode())
    assert (hard.provider, hard.kind, hard.permanent, hard.message_id) == (
        "postmark",
        EventKind.BOUNCED,
        True,
        OUR_ID,
    )
    assert hard.occurred_at == datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC)
    (soft,) = parse_postmark(json.dumps(bounce(Type="SoftBounce")).encode())
    assert (soft.kind, soft.permanent) == (EventKind.BOUNCED, False)
    (spam,) = parse_postmark(json.dumps(bounce(RecordType="SpamComplaint", Type="SpamComplaint")).encode())
    assert (spam.kind, spam.permanent) == (EventKind.COMPLAINED, True)
    opened = {"RecordType": "Open", "Recipient": "ada@example.com", "ReceivedAt": "2019-11-05T16:33:54Z"}
    assert parse_postmark(json.dumps(opened).encode())[0].kind is EventKind.OPENED
    change = {
        "RecordType": "SubscriptionChange",
        "Recipient": "ada@example.com",
        "ChangedAt": "2019-11-05T16:33:54Z",
    }
    (unsubscribed,) = parse_postmark(json.dumps({**change, "SuppressSending": True}).encode())
    assert (unsubscribed.kind, unsubscribed.permanent) == (EventKind.UNSUBSCRIBED, True)
    assert parse_postmark(json.dumps({**change, "SuppressSending": False}).encode()) == []
    assert parse_postmark(json.dumps({"RecordType": "Inbound"}).encode()) == []
    with pytest.raises(WebhookRejected) as malformed:
        parse_postmark(json.dumps({"RecordType": "Bounce"}).encode())
    assert malformed.value.code == "malformed"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_signature"),
        (basic("postmark:guess"), "bad_signature"),
        ({"Authorization": "Bearer " + base64.b64encode(CREDENTIALS.encode()).decode()}, "bad_signature"),
        ({"Authorization": "Basic not-base64!"}, "bad_signature"),
    ],
)
def test_wrong_or_missing_credentials_are_refused(headers: dict[str, str], code: str) -> None:
    with pytest.raises(WebhookRejected) as refused:
        check_credentials(headers, CREDENTIALS)
    assert refused.value.code == code


@pytest.mark.backends("sqlite")
async def test_a_postmark_bounce_with_the_credentials_suppresses_and_a_forged_one_is_refused(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, [{"email": "ada@example.com"}])
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
    send = await start_send(client, team, campaign_id, list_id=list_id)
    await wait_for_send(client, team[Role.VIEWER].headers, send["id"])

    owner, editor = team[Role.OWNER].headers, team[Role.EDITOR].headers
    hook = f"/hooks/{team.workspace_id}/postmark"
    body = json.dumps(bounce(Metadata={})).encode()  # no Message-ID: the address's latest message
    assert (await client.post(hook, content=body, headers=basic(CREDENTIALS))).status_code == 404

    bad = await client.put("/api/delivery/webhooks", json={"postmark_credentials": "nocolon"}, headers=owner)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_credentials")
    saved = await client.put(
        "/api/delivery/webhooks", json={"postmark_credentials": CREDENTIALS}, headers=owner
    )
    assert saved.status_code == 200, saved.text
    shown = (await client.get("/api/delivery/webhooks", headers=owner)).json()
    assert CREDENTIALS not in json.dumps(shown)
    assert shown["postmark_credentials_set"] is True

    for headers in ({}, basic("postmark:guess")):
        forged = await client.post(hook, content=body, headers=headers)
        assert forged.status_code == 401
    assert (await client.get("/api/suppressions", headers=editor)).json()["items"] == []

    accepted = await client.post(hook, content=body, headers=basic(CREDENTIALS))
    assert (accepted.status_code, accepted.json()) == (200, {"recorded": 1})
    suppressions = (await client.get("/api/suppressions", headers=editor)).json()["items"]
    assert [(s["email"], s["reason"]) for s in suppressions] == [("ada@example.com", "bounced")]
    view = (await client.get(f"/api/sends/{send['id']}", headers=editor)).json()
    assert view["counts"]["bounced"] == 1
