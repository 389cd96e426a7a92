"""Provider webhooks end to end: a signed SendGrid bounce suppresses; forgeries change nothing."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

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


def _signed(key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str) -> dict[str, str]:
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


@pytest.mark.backends("sqlite")
async def test_a_signed_sendgrid_bounce_suppresses_and_a_forged_one_is_refused(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, [{"email": "ada@example.com"}, {"email": "bob@example.com"}])
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
    send = await start_send(client, team, campaign_id, list_id=list_id)
    await wait_for_send(client, team[Role.VIEWER].headers, send["id"])
    message_id = next(r.message_id for r in smtp_sink.received if r.recipient == "ada@example.com")

    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()
    owner = team[Role.OWNER].headers
    bad_key = await client.put("/api/delivery/webhooks", json={"sendgrid_public_key": "nope"}, headers=owner)
    assert (bad_key.status_code, bad_key.json()["code"]) == (422, "invalid_key")
    assert (
        await client.put("/api/delivery/webhooks", json={"sendgrid_public_key": public}, headers=owner)
    ).status_code == 200

    hook = f"/hooks/{team.workspace_id}/sendgrid"
    event = {
        "email": "ada@example.com",
        "event": "bounce",
        "type": "bounce",
        "reason": "550 5.1.1 unknown user",
        "timestamp": int(time.time()),
        "justmaily_message_id": message_id,
        "sg_message_id": "sg-1",
    }
    body = json.dumps([event]).encode()
    now = str(int(time.time()))
    forged = await client.post(
        hook, content=body, headers=_signed(ec.generate_private_key(ec.SECP256R1()), body, now)
    )
    assert (forged.status_code, forged.json()["code"]) == (401, "webhook_bad_signature")
    tampered = await client.post(
        hook, content=body.replace(b"ada@", b"bob@"), headers=_signed(key, body, now)
    )
    assert tampered.status_code == 401
    stale = str(int(time.time()) - 3600)
    replayed = await client.post(hook, content=body, headers=_signed(key, body, stale))
    assert (replayed.status_code, replayed.json()["code"]) == (401, "webhook_stale")
    editor = team[Role.EDITOR].headers
    assert (await client.get("/api/suppressions", headers=editor)).json()["items"] == []

    accepted = await client.post(hook, content=body, headers=_signed(key, body, now))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"recorded": 1}
    suppressions = (await client.get("/api/suppressions", headers=editor)).json()["items"]
    assert [(s["email"], s["reason"]) for s in suppressions] == [("ada@example.com", "bounced")]
    view = (await client.get(f"/api/sends/{send['id']}", headers=editor)).json()
    assert view["counts"]["bounced"] == 1
    other = await client.post(
        f"/hooks/{team.rival_workspace_id}/sendgrid", content=body, headers=_signed(key, body, now)
    )
    assert other.status_code == 404  # the rival set up no webhook
