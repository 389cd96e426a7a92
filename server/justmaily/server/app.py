"""The composition root: settings in, a ready Litestar app out. Importing opens nothing."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import structlog
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences.controllers import (
    ContactsController,
    ExportsController,
    ImportsController,
    ListsController,
    SegmentsController,
    SuppressionsController,
)
from justmaily.server.campaigns.controllers import CampaignsController
from justmaily.server.campaigns.ports import CampaignDocument
from justmaily.server.collaboration.controllers import (
    CollaborationController,
    VersionsController,
    campaign_room,
    close_rooms_of,
    provide_content,
)
from justmaily.server.collaboration.fanout import PostgresFanout
from justmaily.server.collaboration.materialise import materialise_campaign
from justmaily.server.collaboration.rooms import RoomManager
from justmaily.server.collaboration.service import ContentService
from justmaily.server.collaboration.store import DocumentStore
from justmaily.server.db.engine import Database
from justmaily.server.db.session import get_session
from justmaily.server.delivery.controllers import DeliverySetupController
from justmaily.server.delivery.link_tokens import LinkTokens
from justmaily.server.delivery.sender import Sender
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
from justmaily.server.engagement.webhooks.ses import SnsVerifier, fetch_certificate_https
from justmaily.server.events import ApprovalGranted, ApprovalVoided, CampaignStatusChanged, Events
from justmaily.server.health.controllers import HealthController
from justmaily.server.http.bodies import CheckedRequest, refuse_nul
from justmaily.server.http.openapi import openapi_config, openapi_plugins
from justmaily.server.http.options import complete_allow_header
from justmaily.server.http.policy import PUBLIC
from justmaily.server.http.problems import EXCEPTION_HANDLERS
from justmaily.server.http.rate_limit import RateLimiter, RateLimitMiddleware, rates
from justmaily.server.http.request_context import request_context_middleware, stamp_response
from justmaily.server.identity.controllers import (
    ApiKeysController,
    AuthController,
    InvitationsController,
    MembersController,
)
from justmaily.server.identity.guards import check_route_policies, permission_guard
from justmaily.server.identity.middleware import AuthenticationMiddleware, PeoplesCredentials
from justmaily.server.identity.tokens import TokenSigner
from justmaily.server.keys.ring import KeyRing
from justmaily.server.migrations.migrate import upgrade_to_head
from justmaily.server.settings import Settings
from justmaily.server.trust import certificates
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.server.trust.controllers import TransparencyController
from justmaily.server.trust.credential_controllers import ServiceCredentialsController
from justmaily.server.trust.log import LogSigner
from justmaily.server.trust.publisher import TreeHeadPublisher
from justmaily.server.trust.service_credentials import ServiceTokens

log = structlog.get_logger(__name__)

ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    HealthController,
    AuthController,
    MembersController,
    InvitationsController,
    ApiKeysController,
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
]


def provide_document(state: State) -> CampaignDocument:
    """The campaigns domain edits content through the live document (collaboration)."""
    return provide_content(state)


def wire_events(events: Events, ca: CertificateAuthority, content: ContentService) -> None:
    """Who acts on what a domain announces (events.py), in the order they act."""
    events.on(ApprovalGranted, functools.partial(_certify, ca=ca))
    events.on(ApprovalVoided, certificates.on_approval_voided)
    events.on(ApprovalVoided, withdrawal.on_approval_voided)
    events.after_commit(CampaignStatusChanged, content.show_status)


async def _certify(session: AsyncSession, approval: ApprovalGranted, ca: CertificateAuthority) -> None:
    await certificates.record_approval(session, approval, ca)


def _load_keys(state: State, settings: Settings, limiter: RateLimiter) -> None:
    """Every key (keys/ring.py, made on first use) to what uses it, and what checks credentials."""
    keys = KeyRing.load(settings)
    state.signer = TokenSigner(keys.access_tokens)
    state.secrets = keys.secrets
    state.link_tokens = LinkTokens(keys.link_tokens)
    state.sns_verifier = SnsVerifier(fetch_certificate_https)
    state.log_signer = LogSigner(settings.effective_log_origin, keys.log)
    state.ca = CertificateAuthority.for_key(
        keys.ca, settings.ca_path / "ca.pem", f"JustMaily CA {settings.effective_log_origin}"
    )
    # Services first: a service's token would otherwise be taken for a person's.
    state.authenticators = (
        ServiceTokens(state.ca, settings.public_url.rstrip("/")),
        PeoplesCredentials(state.signer, settings, limiter),
    )


def create_app(settings: Settings) -> Litestar:
    limiter = RateLimiter()
    rate_limits = RateLimitMiddleware(
        limiter, settings.http.rate_limit_per_ip, settings.http.rate_limit_per_principal
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Crash safety: every write is a transaction; a crash mid-request rolls it back, and a
        # crash mid-migration leaves the previous schema (DDL is transactional on both backends).
        _load_keys(app.state, settings, limiter)
        database = Database(settings)
        app.state.database = database
        events = app.state.events
        try:
            if settings.migrate_on_startup:
                await upgrade_to_head(database.engine)
            async with anyio.create_task_group() as rooms_group:
                store = DocumentStore(database, settings.rooms.compact_after_updates)
                app.state.rooms = RoomManager(
                    store,
                    rooms_group,
                    settings.rooms.idle_unload_seconds,
                    on_stored=functools.partial(materialise_campaign, database, events),
                )
                wire_events(events, app.state.ca, provide_content(app.state))
                events.start(rooms_group)
                if not settings.is_sqlite:
                    # In the background: a database that is down must not stop start-up; the
                    # replica reports not ready until it listens (health/controllers.py).
                    app.state.fanout = PostgresFanout(store, settings.effective_database_url, app.state.rooms)
                    app.state.rooms.fanout = app.state.fanout
                    rooms_group.start_soon(app.state.fanout.run)
                if settings.delivery.sender_enabled:
                    app.state.sender = Sender(
                        database, settings, app.state.link_tokens, app.state.secrets, events
                    )
                    rooms_group.start_soon(app.state.sender.run_forever)
                keys = {"log_key": app.state.log_signer.verifier_key, "ca_sha256": app.state.ca.fingerprint}
                publisher = TreeHeadPublisher(
                    database, app.state.log_signer, settings.trust.log_publish_seconds, keys
                )
                app.state.publisher = publisher
                rooms_group.start_soon(publisher.run)
                app.state.started = True
                log.info("started", settings=settings.redacted())
                try:
                    yield
                finally:
                    # The sender stops at a safe point; rooms close their connections and store
                    # what is queued; then the pool goes.
                    if app.state.sender is not None:
                        with anyio.move_on_after(15):
                            await app.state.sender.stop()
                    with anyio.move_on_after(5):
                        await publisher.stop()
                    events.stop()
                    await app.state.rooms.close_all()
                    rooms_group.cancel_scope.cancel()
        finally:
            await database.dispose()

    app = Litestar(
        route_handlers=ROUTE_HANDLERS,
        dependencies={
            "db_session": Provide(get_session),
            "document": Provide(provide_document, sync_to_thread=False),
        },
        guards=[permission_guard],
        middleware=[
            request_context_middleware,
            refuse_nul,
            rate_limits.by_ip,
            DefineMiddleware(AuthenticationMiddleware, exclude_from_auth_key=PUBLIC),
            rate_limits.by_principal,
        ],
        before_send=[stamp_response, complete_allow_header],
        request_class=CheckedRequest,
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi_config(public=settings.http.public_api_docs),
        plugins=openapi_plugins(),
        lifespan=[lifespan],
        request_max_body_size=settings.http.max_request_bytes,
        state=State(
            {
                "fanout": None,
                "publisher": None,
                "sender": None,
                "settings": settings,
                "limiter": limiter,
                "room_rates": rates(settings.rooms.message_rate),
                "started": False,
                "events": Events(),
            }
        ),
        listeners=[close_rooms_of],
        logging_config=None,
    )
    check_route_policies(app)
    return app
