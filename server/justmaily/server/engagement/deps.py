"""Providers of the engagement domain's services, from the app's (services.py) by name."""

from __future__ import annotations

from datetime import timedelta

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.engine import Database
from justmaily.server.delivery.link_tokens import LinkTokens
from justmaily.server.delivery.sends.deliverability import ComplaintLimit
from justmaily.server.engagement.links import ConfirmationService, TrackingService
from justmaily.server.engagement.webhooks.hooks import ProviderHooks
from justmaily.server.engagement.webhooks.ses import SnsVerifier
from justmaily.server.engagement.webhooks.setup import WebhookSetup
from justmaily.server.identity.principal import AuthedRequest
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.settings import Settings


def provide_tracking(
    database: NamedDependency[Database], link_tokens: NamedDependency[LinkTokens]
) -> TrackingService:
    return TrackingService(database, link_tokens)


def provide_confirmations(
    database: NamedDependency[Database],
    link_tokens: NamedDependency[LinkTokens],
    settings: NamedDependency[Settings],
) -> ConfirmationService:
    ttl = timedelta(seconds=settings.delivery.confirmation_link_ttl_seconds)
    return ConfirmationService(database, link_tokens, ttl)


def provide_hooks(
    database: NamedDependency[Database],
    sns_verifier: NamedDependency[SnsVerifier],
    secrets: NamedDependency[SecretBox],
    settings: NamedDependency[Settings],
) -> ProviderHooks:
    return ProviderHooks(database, sns_verifier, secrets, ComplaintLimit.of(settings.delivery))


def provide_webhook_setup(
    request: AuthedRequest, db_session: NamedDependency[AsyncSession], secrets: NamedDependency[SecretBox]
) -> WebhookSetup:
    return WebhookSetup(db_session, secrets, request.user.workspace_id)
