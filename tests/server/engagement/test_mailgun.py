"""Mailgun's webhooks: the HMAC over timestamp + token with the workspace's signing key verifies
a report; forged, tampered, stale or unsigned posts are refused and change nothing; the key is a
secret, never answered back."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar

from justmaily.server.engagement.webhooks.common import WebhookRejected
from justmaily.server.engagement.webhooks.hooks import _first_use
from justmaily.server.engagement.webhooks.mailgun import parse_mailgun
from justmaily.server.services import services_of
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

KEY = b"key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OUR_ID = "0b5c3c524d2c4a519d3e6a0f0f7c2b1e@mail.justmaily.example"


def post(event: dict[str, Any], *, key: bytes = KEY, at: datetime = NOW) -> bytes:
    """A post as Mailgun signs it: hex HMAC-SHA256 of timestamp then token."""
    timestamp, token = str(int(at.timestamp())), secrets.token_hex(25)
    signature = hmac.new(key, (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event}
    ).encode()


def event(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "event": name,
        "timestamp": NOW.timestamp() - 30.25,
        "id": "DACSsAdVSeGpLid7TN03WA",
        "recipient": "ada@example.com",
        "message": {"headers": {"message-id": f"<{OUR_ID}>"}},
        **extra,
    }


def test_signed_events_become_ours() -> None:
    (opened,) = parse_mailgun(post(event("opened")), KEY, NOW).events
    assert (opened.provider, opened.kind, opened.permanent) == ("mailgun", EventKind.OPENED, False)
    assert (opened.message_id, opened.address) == (OUR_ID, "ada@example.com")
    assert opened.occurred_at == NOW - timedelta(seconds=30.25)
    bounce = event(
        "failed",
        severity="permanent",
        reason="bounce",
        **{"delivery-status": {"code": 550, "message": "No such user"}},
    )
    (bounced,) = parse_mailgun(post(bounce), KEY, NOW).events
    assert (bounced.kind, bounced.permanent) == (EventKind.BOUNCED, True)
    assert bounced.detail == "failed: permanent: bounce: 550: No such user"
    (complained,) = parse_mailgun(post(event("complained")), KEY, NOW).events
    assert (complained.kind, complained.permanent) == (EventKind.COMPLAINED, True)
    # Mailgun retries a temporary failure itself; "accepted" teaches us nothing.
    assert parse_mailgun(post(event("failed", severity="temporary")), KEY, NOW).events == []
    assert parse_mailgun(post(event("accepted")), KEY, NOW).events == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (post(event("opened"), key=b"another key"), "bad_signature"),
        (post(event("opened"), at=NOW - timedelta(hours=1)), "stale"),
        (json.dumps({"event-data": event("opened")}).encode(), "missing_signature"),
        (b"not json", "malformed"),
        (b"x" * (256 * 1024 + 1), "too_large"),
    ],
)
def test_forged_stale_unsigned_or_malformed_posts_are_refused(body: bytes, code: str) -> None:
    with pytest.raises(WebhookRejected) as refused:
        parse_mailgun(body, KEY, NOW)
    assert refused.value.code == code


@pytest.mark.backends("sqlite")
async def test_a_signed_mailgun_bounce_suppresses_and_a_forged_one_is_refused(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, [{"email": "ada@example.com"}])
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
    send = await start_send(client, team, campaign_id, list_id=list_id)
    await wait_for_send(client, team[Role.VIEWER].headers, send["id"])
    message_id = smtp_sink.received[0].message_id

    owner, editor = team[Role.OWNER].headers, team[Role.EDITOR].headers
    hook = f"/hooks/{team.workspace_id}/mailgun"
    now = datetime.fromtimestamp(time.time(), UTC)
    bounce = event(
        "failed", severity="permanent", timestamp=time.time(), message={"headers": {"message-id": message_id}}
    )
    assert (await client.post(hook, content=post(bounce, at=now))).status_code == 404  # no key yet

    saved = await client.put(
        "/api/delivery/webhooks", json={"mailgun_signing_key": KEY.decode()}, headers=owner
    )
    assert saved.status_code == 200, saved.text
    assert (saved.json()["mailgun_signing_key"], saved.json()["mailgun_key_set"]) == (None, True)
    shown = (await client.get("/api/delivery/webhooks", headers=owner)).json()
    assert KEY.decode() not in json.dumps(shown)
    assert shown["mailgun_key_set"] is True

    forged = await client.post(hook, content=post(bounce, key=b"guessed", at=now))
    assert (forged.status_code, forged.json()["code"]) == (401, "webhook_bad_signature")
    stale = await client.post(hook, content=post(bounce, at=now - timedelta(hours=1)))
    assert (stale.status_code, stale.json()["code"]) == (401, "webhook_stale")
    assert (await client.get("/api/suppressions", headers=editor)).json()["items"] == []

    signed = post(bounce, at=now)
    accepted = await client.post(hook, content=signed)
    assert (accepted.status_code, accepted.json()) == (200, {"recorded": 1})
    # Mailgun's HMAC covers timestamp and token, not the event: the same signature carrying
    # another recipient (or the same post again) is refused by its token, already used.
    for replay in (signed.replace(b"ada@example.com", b"bob@example.com"), signed):
        refused = await client.post(hook, content=replay)
        assert (refused.status_code, refused.json()["code"]) == (401, "webhook_replayed")
    suppressions = (await client.get("/api/suppressions", headers=editor)).json()["items"]
    assert [(s["email"], s["reason"]) for s in suppressions] == [("ada@example.com", "bounced")]

    # Changing other settings keeps the key (null); "" removes it and turns the hook off.
    kept = await client.put("/api/delivery/webhooks", json={"ses_topic_arns": []}, headers=owner)
    assert kept.json()["mailgun_key_set"] is True
    removed = await client.put("/api/delivery/webhooks", json={"mailgun_signing_key": ""}, headers=owner)
    assert removed.json()["mailgun_key_set"] is False
    assert (await client.post(hook, content=post(bounce, at=now))).status_code == 404


async def test_a_nonce_is_accepted_once_and_forgotten_after_its_window(app: Litestar, team: Team) -> None:
    database = services_of(app).database
    now = datetime.now(UTC)
    async with database.session() as session, session.begin():
        assert await _first_use(session, team.workspace_id, "mailgun", "t1", now - timedelta(minutes=10))
        assert not await _first_use(session, team.workspace_id, "mailgun", "t1", now - timedelta(minutes=10))
        # Another workspace's token is its own.
        assert await _first_use(
            session, team.rival_workspace_id, "mailgun", "t1", now - timedelta(minutes=10)
        )
    async with database.session() as session, session.begin():
        # Once every post it could have signed is stale, the token is forgotten.
        assert await _first_use(session, team.workspace_id, "mailgun", "t2", now + timedelta(minutes=1))
        assert await _first_use(session, team.workspace_id, "mailgun", "t1", now + timedelta(minutes=1))
