"""The composition root: settings in, a ready Litestar app out. Importing opens nothing."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.analytics.controllers import (
    EventImportsController,
    ForecastController,
    SendRollupController,
)
from justmaily.server.audiences.controllers import (
    ContactsController,
    ExportsController,
    ImportsController,
    ListsController,
    SegmentsController,
    SuppressionsController,
)
from justmaily.server.campaigns.controllers import CampaignsController
from justmaily.server.collaboration.controllers import (
    CollaborationController,
    VersionsController,
    campaign_room,
)
from justmaily.server.collaboration.fanout import Link
from justmaily.server.collaboration.service import ContentService
from justmaily.server.db.session import SESSION_DEPENDENCY, get_session
from justmaily.server.delivery.controllers import DeliverySetupController
from justmaily.server.delivery.sends import withdrawal
from justmaily.server.delivery.sends.controllers import (
    CampaignSendsController,
    MessageProofController,
    SendsController,
)
from justmaily.server.engagement.controllers import (
    ConfirmationController,
    ProviderHooksController,
    TrackingController,
    WebhookSettingsController,
)
from justmaily.server.events import ApprovalGranted, ApprovalVoided, CampaignStatusChanged
from justmaily.server.health.controllers import HealthController
from justmaily.server.http.bodies import CheckedRequest, refuse_nul
from justmaily.server.http.openapi import openapi_config, openapi_plugins
from justmaily.server.http.options import complete_allow_header
from justmaily.server.http.policy import PUBLIC
from justmaily.server.http.problems import EXCEPTION_HANDLERS
from justmaily.server.http.rate_limit import RateLimiter, RateLimitMiddleware
from justmaily.server.http.request_context import request_context_middleware, stamp_response
from justmaily.server.identity.controllers import (
    ApiKeysController,
    AuthController,
    InvitationsController,
    MembersController,
)
from justmaily.server.identity.guards import check_route_policies, permission_guard
from justmaily.server.identity.middleware import AuthenticationMiddleware, Credentials
from justmaily.server.mesh.controllers import MeshController
from justmaily.server.ops.controllers import MetricsController, OpsController, RetentionController
from justmaily.server.protection.controllers import AuditController, KeysController
from justmaily.server.services import Services, access_listener, attach, providers, running, unstarted_state
from justmaily.server.settings import Settings
from justmaily.server.trust import certificates
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.server.trust.controllers import ServiceCredentialsController, TransparencyController

log = structlog.get_logger(__name__)

ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    HealthController,
    AuthController,
    MembersController,
    InvitationsController,
    ApiKeysController,
    AuditController,
    KeysController,
    CampaignsController,
    CollaborationController,
    VersionsController,
    campaign_room,
    ContactsController,
    ListsController,
    SegmentsController,
    SuppressionsController,
    ImportsController,
    ExportsController,
    CampaignSendsController,
    SendsController,
    DeliverySetupController,
    WebhookSettingsController,
    TrackingController,
    ConfirmationController,
    ProviderHooksController,
    TransparencyController,
    MessageProofController,
    ServiceCredentialsController,
    OpsController,
    RetentionController,
    MetricsController,
    ForecastController,
    EventImportsController,
    SendRollupController,
    MeshController,
]


def wire_events(services: Services) -> None:
    """Who acts on what a domain announces (events.py), in the order they act."""
    events = services.events
    events.on(ApprovalGranted, functools.partial(_certify, ca=services.ca))
    events.on(ApprovalVoided, certificates.on_approval_voided)
    events.on(ApprovalVoided, withdrawal.on_approval_voided)
    events.after_commit(CampaignStatusChanged, ContentService(services.database, services.rooms).show_status)


async def _certify(session: AsyncSession, approval: ApprovalGranted, ca: CertificateAuthority) -> None:
    await certificates.record_approval(session, approval, ca)


def create_app(settings: Settings, link: Link | None = None) -> Litestar:
    """The app; `link` joins the other workers of this machine, where there are (workers/)."""
    limiter = RateLimiter()
    rate_limits = RateLimitMiddleware(
        limiter, settings.http.rate_limit_per_ip, settings.http.rate_limit_per_principal
    )
    credentials = Credentials()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with running(settings, limiter, credentials, wire_events, link) as services:
            attach(app, services)
            log.info("started", settings=settings.redacted())
            yield

    state = unstarted_state()
    app = Litestar(
        route_handlers=ROUTE_HANDLERS,
        dependencies={
            **providers(),
            SESSION_DEPENDENCY: Provide(get_session),
        },
        guards=[permission_guard],
        middleware=[
            request_context_middleware,
            refuse_nul,
            rate_limits.by_ip,
            DefineMiddleware(AuthenticationMiddleware, credentials=credentials, exclude_from_auth_key=PUBLIC),
            rate_limits.by_principal,
        ],
        before_send=[stamp_response, complete_allow_header],
        request_class=CheckedRequest,
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi_config(public=settings.http.public_api_docs),
        plugins=openapi_plugins(),
        lifespan=[lifespan],
        request_max_body_size=settings.http.max_request_bytes,
        state=state,
        listeners=[access_listener(state)],
        logging_config=None,
    )
    check_route_policies(app)
    return app
