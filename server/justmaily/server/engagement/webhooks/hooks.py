"""Provider webhooks as they arrive: the workspace's settings say which are accepted and how
they are verified; a verified report's events are recorded in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

import structlog
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.db.dialects import insert_or_ignore
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.delivery.sends.deliverability import ComplaintLimit
from justmaily.server.engagement import service as engagement
from justmaily.server.engagement.models import WebhookNonce, WebhookSettings
from justmaily.server.engagement.webhooks.common import ProviderEvent, WebhookRejected
from justmaily.server.engagement.webhooks.mailgun import TOLERANCE as MAILGUN_TOLERANCE
from justmaily.server.engagement.webhooks.mailgun import parse_mailgun
from justmaily.server.engagement.webhooks.postmark import check_credentials, parse_postmark
from justmaily.server.engagement.webhooks.sendgrid import parse_sendgrid
from justmaily.server.engagement.webhooks.ses import SnsVerifier, parse_ses
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.keys.sealed import SecretBox

log = structlog.get_logger(__name__)

Body = Callable[[], Awaitable[bytes]]  # read only once the workspace is known to take the hook


class ProviderHooks:
    def __init__(
        self,
        database: Database,
        sns_verifier: SnsVerifier,
        secrets: SecretBox,
        complaint_limit: ComplaintLimit | None = None,
    ) -> None:
        self.database, self.sns_verifier, self.secrets = database, sns_verifier, secrets
        self.complaint_limit = complaint_limit

    async def mailgun(self, workspace_id: uuid.UUID, body: Body) -> int:
        """How many events were recorded (none for events we skip)."""
        settings = await self._settings(workspace_id)
        if not settings.mailgun_signing_key:
            raise not_found("webhook")
        key = self.secrets.open(settings.mailgun_signing_key)
        now = utcnow()
        try:
            posted = parse_mailgun(await body(), key, now)
        except WebhookRejected as exc:
            raise _rejected(exc) from None
        async with transaction(self.database) as session:
            # The token and the events commit together: a replay finds the token, a failure
            # leaves neither.
            if not await _first_use(
                session, workspace_id, "mailgun", posted.token, now - 2 * MAILGUN_TOLERANCE
            ):
                raise _rejected(WebhookRejected("replayed", "this signature's token was accepted before"))
            return await engagement.apply_provider_events(
                session, workspace_id, posted.events, self.complaint_limit
            )

    async def sendgrid(self, workspace_id: uuid.UUID, body: Body, headers: Mapping[str, str]) -> int:
        """How many events were recorded."""
        settings = await self._settings(workspace_id)
        if not settings.sendgrid_public_key:
            raise not_found("webhook")
        try:
            events = parse_sendgrid(await body(), headers, settings.sendgrid_public_key, utcnow())
        except WebhookRejected as exc:
            raise _rejected(exc) from None
        return await self._apply(workspace_id, events)

    async def postmark(self, workspace_id: uuid.UUID, body: Body, headers: Mapping[str, str]) -> int:
        """How many events were recorded (none for records we skip)."""
        settings = await self._settings(workspace_id)
        if not settings.postmark_credentials:
            raise not_found("webhook")
        try:
            check_credentials(headers, self.secrets.open(settings.postmark_credentials).decode())
            events = parse_postmark(await body())
        except WebhookRejected as exc:
            raise _rejected(exc) from None
        return await self._apply(workspace_id, events)

    async def ses(self, workspace_id: uuid.UUID, body: Body) -> int:
        """How many events were recorded (none for a subscription's confirmation)."""
        settings = await self._settings(workspace_id)
        if not settings.ses_topic_arns:
            raise not_found("webhook")
        try:
            message = await self.sns_verifier.verify(
                await body(), allowed_topic_arns=frozenset(settings.ses_topic_arns)
            )
        except WebhookRejected as exc:
            raise _rejected(exc) from None
        if message.type != "Notification":
            # Confirming a subscription is the admin's step: the URL is in our log, not followed.
            log.warning(
                "SNS subscription needs confirming", topic=message.topic_arn, url=message.subscribe_url
            )
            return 0
        try:
            events = parse_ses(message)
        except WebhookRejected as exc:
            raise _rejected(exc) from None
        return await self._apply(workspace_id, events)

    async def _settings(self, workspace_id: uuid.UUID) -> WebhookSettings:
        async with transaction(self.database, read_only=True) as session:
            settings = await session.get(WebhookSettings, workspace_id)
        if settings is None:
            raise not_found("webhook")
        return settings

    async def _apply(self, workspace_id: uuid.UUID, events: list[ProviderEvent]) -> int:
        async with transaction(self.database) as session:
            return await engagement.apply_provider_events(session, workspace_id, events, self.complaint_limit)


def _rejected(exc: WebhookRejected) -> ApiError:
    status = {"too_large": 413, "malformed": 400}.get(exc.code, 401)
    return ApiError(status, f"webhook_{exc.code}", exc.reason)


async def _first_use(
    session: AsyncSession, workspace_id: uuid.UUID, provider: str, nonce: str, forget_before: datetime
) -> bool:
    """Remember the nonce; False when it was remembered already. Nonces older than any post
    still accepted are forgotten on the way."""
    await session.execute(delete(WebhookNonce).where(WebhookNonce.seen_at < forget_before))
    inserted = await session.execute(
        insert_or_ignore(session, WebhookNonce).values(
            workspace_id=workspace_id, provider=provider, nonce=nonce, seen_at=utcnow()
        )
    )
    return bool(getattr(inserted, "rowcount", 0))
