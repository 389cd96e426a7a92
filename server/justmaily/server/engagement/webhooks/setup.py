"""How a workspace's provider webhooks are verified: SendGrid's public key, the SNS topics accepted
(public), Mailgun's signing key and
Postmark's Basic credentials (secrets: sealed, never answered back)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.engagement.models import WebhookSettings
from justmaily.server.engagement.views import to_wire
from justmaily.server.engagement.webhooks.sendgrid import load_sendgrid_key
from justmaily.server.http.problems import ApiError
from justmaily.server.keys.sealed import SecretBox
from justmaily.shared import delivery as wire
from justmaily.shared.problems import FieldError


class WebhookSetup:
    def __init__(self, session: AsyncSession, secrets: SecretBox, workspace_id: uuid.UUID) -> None:
        self.session, self.secrets, self.workspace_id = session, secrets, workspace_id

    async def webhook_settings(self) -> wire.WebhookSettings:
        return to_wire(await self.session.get(WebhookSettings, self.workspace_id))

    async def set_webhook_settings(self, data: wire.WebhookSettings) -> wire.WebhookSettings:
        if data.sendgrid_public_key:
            try:
                load_sendgrid_key(data.sendgrid_public_key)
            except ValueError as exc:
                raise ApiError(
                    422,
                    "invalid_key",
                    str(exc),
                    errors=[FieldError(field="sendgrid_public_key", message=str(exc))],
                ) from None
        row = await self.session.get(WebhookSettings, self.workspace_id)
        if row is None:
            row = WebhookSettings(workspace_id=self.workspace_id)
            self.session.add(row)
        row.sendgrid_public_key = data.sendgrid_public_key
        row.ses_topic_arns = list(data.ses_topic_arns)
        if data.mailgun_signing_key is not None:
            key = data.mailgun_signing_key.strip()
            row.mailgun_signing_key = self.secrets.seal(key.encode()) if key else None
        if data.postmark_credentials is not None:
            credentials = data.postmark_credentials.strip()
            if credentials and ":" not in credentials:
                message = 'Postmark credentials are "user:password", as in the webhook URL'
                raise ApiError(
                    422,
                    "invalid_credentials",
                    message,
                    errors=[FieldError(field="postmark_credentials", message=message)],
                )
            row.postmark_credentials = self.secrets.seal(credentials.encode()) if credentials else None
        row.updated_at = utcnow()
        await self.session.flush()
        return to_wire(row)
