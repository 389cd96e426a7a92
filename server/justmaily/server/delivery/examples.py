"""Worked examples for the OpenAPI document of the delivery domain."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from justmaily.shared import delivery as wire

_AT = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)

SEND = wire.Send(
    id=UUID("2b3c4d5e-6f70-4a81-92a3-b4c5d6e7f809"),
    campaign_id=UUID("0b5c3c52-4d2c-4a51-9d3e-6a0f0f7c2b1e"),
    status=wire.SendStatus.SENDING,
    list_id=UUID("7c6b5a49-3827-4165-9f8e-7d6c5b4a3928"),
    segment_id=None,
    send_at=_AT,
    recipients=1520,
    counts=wire.SendCounts(queued=400, sent=1100, suppressed=12, failed=8, opened=310, clicked=42),
    content_hash="9f2c5a0e4b7d1c3a8e6f2b4d0c9a7e5f3b1d8c6a4e2f0b9d7c5a3e1f8b6d4c2a",
    alert="",
    created_at=_AT,
    started_at=_AT,
    finished_at=None,
)
PREVIEW = wire.Preview(subject="Hi Ada: spring is here", text="Hello Ada…", html="<!DOCTYPE html>…")
DOMAIN = wire.SendingDomain(
    id=UUID("4d5e6f70-8192-4a3b-8c4d-5e6f70819203"),
    domain="acme.example",
    dns_records=[
        wire.DnsRecord(
            name="jm202605r._domainkey.acme.example", type="TXT", value="v=DKIM1; k=rsa; p=MIIBIjANBgkq…"
        ),
        wire.DnsRecord(
            name="jm202605e._domainkey.acme.example", type="TXT", value="v=DKIM1; k=ed25519; p=11qYAYKxCrfV…"
        ),
    ],
    created_at=_AT,
)
RELAY = wire.Relay(
    id=UUID("6f708192-a3b4-4c5d-8e6f-708192a3b4c5"),
    name="primary",
    url="smtp://smtp.relay.example:587",
    username="mailer",
    priority=10,
    max_per_second=200,
)
WEBHOOKS = wire.WebhookSettings(ses_topic_arns=["arn:aws:sns:eu-west-1:123456789012:ses-bounces"])
