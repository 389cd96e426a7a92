"""`to_wire`: the engagement domain's rows as the API answers them (shared/delivery.py)."""

from __future__ import annotations

from justmaily.server.engagement.models import WebhookSettings
from justmaily.shared import delivery as wire


def to_wire(row: WebhookSettings | None) -> wire.WebhookSettings:
    """A workspace's webhook settings (None: it has set none)."""
    if row is None:
        return wire.WebhookSettings()
    return wire.WebhookSettings(
        sendgrid_public_key=row.sendgrid_public_key,
        ses_topic_arns=list(row.ses_topic_arns),
        mailgun_key_set=bool(row.mailgun_signing_key),
        postmark_credentials_set=bool(row.postmark_credentials),
    )
