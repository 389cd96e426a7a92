"""The long-lived objects of a running app (`Services`), made and started in its lifespan, and
the app-level providers that hand each of them to handlers and domains' providers by name.

A handler or a `deps.py` provider asks for one by its name and type (`ca:
NamedDependency[CertificateAuthority]`); the domains never see `Services` itself, which sits at
the top with the composition root (the layers contract forbids importing it from below).
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.events import EventListener, listener

from justmaily.server.campaigns.ports import CampaignDocument
from justmaily.server.collaboration.fanout import Fanout, Link, LocalFanout, PostgresFanout
from justmaily.server.collaboration.materialise import materialise_campaign
from justmaily.server.collaboration.rooms import RoomManager
from justmaily.server.collaboration.service import ContentService, close_rooms_of
from justmaily.server.collaboration.store import DocumentStore
from justmaily.server.db.engine import Database
from justmaily.server.delivery.link_tokens import LinkTokens
from justmaily.server.delivery.sender import Sender
from justmaily.server.delivery.sends.gate import ContentGate
from justmaily.server.engagement.webhooks.ses import SnsVerifier, fetch_certificate_https
from justmaily.server.events import ACCESS_CHANGED, Events
from justmaily.server.http.rate_limit import RateLimiter
from justmaily.server.identity.middleware import Credentials, PeoplesCredentials
from justmaily.server.identity.tokens import TokenSigner
from justmaily.server.keys.ring import KeyRing
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.mesh.gate import MeshGate
from justmaily.server.mesh.runtime import Mesh, engine_for
from justmaily.server.metrics import sli
from justmaily.server.migrations.migrate import upgrade_to_head
from justmaily.server.ops import retention_policy, slo
from justmaily.server.ops.alerts import Alerter
from justmaily.server.ops.retention import Purger
from justmaily.server.ops.sampler import Sampler
from justmaily.server.protection.hierarchy import KeyHierarchy
from justmaily.server.protection.keyring import hierarchy_of
from justmaily.server.protection.trail import AuditTrail
from justmaily.server.settings import Settings
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.server.trust.log import LogSigner
from justmaily.server.trust.publisher import TreeHeadPublisher
from justmaily.server.trust.service_credentials import ServiceTokens

_KEY = "services"  # the one entry of the app's state: set once the services have started


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    settings: Settings
    database: Database
    events: Events  # in-transaction and after-commit handlers (events.py), wired by app.py
    limiter: RateLimiter
    signer: TokenSigner  # people's tokens and room tickets
    secrets: SecretBox
    protection: KeyHierarchy  # the KEK's provider and the workspaces' data keys (protection/)
    audit_trail: AuditTrail  # audit entries noted outside a transaction (secrets opened), written behind
    link_tokens: LinkTokens
    sns_verifier: SnsVerifier
    log_signer: LogSigner
    ca: CertificateAuthority
    rooms: RoomManager
    fanout: Fanout | None  # processes that may hold the same rooms hear each other's edits
    sender: Sender | None  # None where `sender_enabled` is off
    publisher: TreeHeadPublisher
    slos: slo.SloFile  # the objectives (ops/slos.toml or JUSTMAILY_SLO_FILE)
    sampler: Sampler  # stores indicator counts, reads gauges from the database
    retention_policies: retention_policy.RetentionFile  # how long each kind of record is kept
    purger: Purger  # purges what the retention policies let go, once a day
    alerter: Alerter  # the SLO alerts to owners, by e-mail and webhook
    metrics_token: str  # what Prometheus presents to scrape /metrics
    mesh: Mesh | None  # the agent mesh in this process (None where `mesh_enabled` is off)


@asynccontextmanager
async def running(
    settings: Settings,
    limiter: RateLimiter,
    credentials: Credentials,
    wire: Callable[[Services], None],
    link: Link | None = None,
) -> AsyncIterator[Services]:
    """Keys, the database (migrated), rooms, fan-out, sender and publisher, running until the
    block ends; `wire` registers the event handlers before anything can announce one. `link`
    joins the other workers of this machine (workers/), where there are others.

    Crash safety: every write is a transaction; a crash mid-request rolls it back, and a crash
    mid-migration leaves the previous schema (DDL is transactional on both backends)."""
    keys = KeyRing.load(settings)
    slos = load_slos(settings)
    policies = load_retention(settings)
    sli.configure(slos.thresholds())
    database = Database(settings)
    try:
        if settings.migrate_on_startup:
            await upgrade_to_head(database.engine, settings)
        async with anyio.create_task_group() as group:
            services = _made(settings, keys, database, limiter, group, link, slos, policies)
            # Services first: a service's token would otherwise be taken for a person's.
            people = PeoplesCredentials(services.signer, settings.identity, limiter)
            credentials.start(database, (ServiceTokens(services.ca, settings.public_url.rstrip("/")), people))
            wire(services)
            _start(services, group)
            try:
                yield services
            finally:
                await _stop(services)
                group.cancel_scope.cancel()
    finally:
        await database.dispose()


def _made(
    settings: Settings,
    keys: KeyRing,
    database: Database,
    limiter: RateLimiter,
    group: TaskGroup,
    link: Link | None,
    slos: slo.SloFile,
    policies: retention_policy.RetentionFile,
) -> Services:
    events = Events()
    store = DocumentStore(database, settings.rooms.compact_after_updates)
    on_stored = functools.partial(materialise_campaign, database, events)
    rooms = RoomManager(store, group, settings.rooms.idle_unload_seconds, on_stored=on_stored)
    # In the background (`_start`): a database that is down must not stop start-up; the replica
    # reports not ready until it listens (health/service.py).
    rooms.fanout = _fanout(settings, store, rooms, link)
    origin = settings.effective_log_origin
    log_signer = LogSigner(origin, keys.log)
    ca = CertificateAuthority.for_key(keys.ca, settings.ca_path / "ca.pem", f"JustMaily CA {origin}")
    link_tokens = LinkTokens(keys.link_tokens)
    enabled = settings.delivery.sender_enabled
    on_record = {"log_key": log_signer.verifier_key, "ca_sha256": ca.fingerprint}
    trail = AuditTrail(database)
    keys.secrets.on_read = trail.secret_read  # every secret this process opens is on record
    mesh = None
    if settings.mesh.enabled:
        mesh = Mesh(settings.mesh, database, ContentService(database, rooms), engine_for(settings.mesh))
        rooms.watcher = mesh
    return Services(
        settings=settings,
        database=database,
        events=events,
        limiter=limiter,
        signer=TokenSigner(keys.access_tokens),
        secrets=keys.secrets,
        # The same hierarchy (and cache of unwrapped keys) as the repository's sealed contacts.
        protection=hierarchy_of(database),
        audit_trail=trail,
        link_tokens=link_tokens,
        sns_verifier=SnsVerifier(fetch_certificate_https),
        log_signer=log_signer,
        ca=ca,
        rooms=rooms,
        fanout=rooms.fanout,
        sender=Sender(database, settings, link_tokens, keys.secrets, events) if enabled else None,
        publisher=TreeHeadPublisher(database, log_signer, settings.trust.log_publish_seconds, on_record),
        slos=slos,
        sampler=Sampler(database, settings.ops.sample_seconds),
        retention_policies=policies,
        purger=Purger(database, policies, check_every=settings.ops.retention_check_seconds),
        alerter=Alerter(database, settings, slos),
        metrics_token=keys.metrics_token,
        mesh=mesh,
    )


def load_slos(settings: Settings) -> slo.SloFile:
    """The SLO file the settings name, or the shipped one; SloFileError names the line."""
    return slo.load(Path(settings.ops.slo_file) if settings.ops.slo_file else None)


def load_retention(settings: Settings) -> retention_policy.RetentionFile:
    """The retention file the settings name, or the shipped one; RetentionFileError names the line."""
    file = settings.ops.retention_file
    return retention_policy.load(Path(file) if file else None)


def _fanout(settings: Settings, store: DocumentStore, rooms: RoomManager, link: Link | None) -> Fanout | None:
    """PostgreSQL's NOTIFY between replicas (and the workers of each); the Unix channels
    between the workers of one machine on SQLite; nothing for a single process on SQLite."""
    if not settings.is_sqlite:
        return PostgresFanout(store, settings.effective_database_url, rooms)
    return None if link is None else LocalFanout(store, rooms, link)


def _start(services: Services, group: TaskGroup) -> None:
    services.events.start(group)
    if services.fanout is not None:
        group.start_soon(services.fanout.run)
    if services.sender is not None:
        group.start_soon(services.sender.run_forever)
    group.start_soon(services.publisher.run)
    group.start_soon(services.audit_trail.run)
    group.start_soon(services.sampler.run)
    group.start_soon(services.purger.run)
    group.start_soon(services.alerter.run)
    if services.mesh is not None:
        group.start_soon(services.mesh.run)


async def _stop(services: Services) -> None:
    """The sender stops at a safe point; rooms close their connections and store what is
    queued; then (after this) the pool goes."""
    if services.sender is not None:
        with anyio.move_on_after(15):
            await services.sender.stop()
    with anyio.move_on_after(5):
        await services.publisher.stop()
    with anyio.move_on_after(5):
        await services.sampler.stop()
    with anyio.move_on_after(10):
        await services.purger.stop()
    with anyio.move_on_after(10):
        await services.alerter.stop()
    services.events.stop()
    if services.mesh is not None:
        services.mesh.stop()  # its analyses end; writes it had begun are stored with the rooms
    await services.rooms.close_all()
    with anyio.move_on_after(5):
        await services.audit_trail.stop()  # last: what the others opened while stopping is written


def unstarted_state() -> State:
    """The app's state: one entry, the services once they run (`attach`)."""
    return State({_KEY: None})


def attach(app: Litestar, services: Services) -> None:
    app.state[_KEY] = services


def services_of(app: Litestar) -> Services:
    """The running app's services (tests and tools; handlers take them by name)."""
    return _of(app.state)


def _of(state: State) -> Services:
    services = state.get(_KEY)
    if not isinstance(services, Services):
        raise RuntimeError("the app has not started")
    return services


def _provider(name: str) -> Provide:
    def provide(state: State) -> Any:
        return getattr(_of(state), name)

    return Provide(provide, sync_to_thread=False)


def _has_started(state: State) -> bool:
    return state.get(_KEY) is not None


def provide_document(
    database: NamedDependency[Database], rooms: NamedDependency[RoomManager]
) -> CampaignDocument:
    """The campaigns domain (and delivery) edit content through the live document (collaboration)."""
    return ContentService(database, rooms)


def provide_content_gate(mesh: NamedDependency[Mesh | None]) -> ContentGate | None:
    """Delivery checks approved content through the mesh's send gate (None: the mesh is off)."""
    return None if mesh is None else MeshGate(mesh)


def providers() -> dict[str, Provide]:
    """Each of the services by its field's name; `started` (the startup probe's); `document`."""
    named = {field.name: _provider(field.name) for field in dataclasses.fields(Services)}
    return {
        **named,
        "started": Provide(_has_started, sync_to_thread=False),
        "document": Provide(provide_document, sync_to_thread=False),
        "content_gate": Provide(provide_content_gate, sync_to_thread=False),
    }


def access_listener(state: State) -> EventListener:
    """Whoever lost or changed access (`ACCESS_CHANGED`) leaves their rooms at once."""

    async def close_rooms(principal_id: uuid.UUID, workspace_id: uuid.UUID) -> None:
        await close_rooms_of(_of(state).rooms, principal_id, workspace_id)

    return listener(ACCESS_CHANGED)(close_rooms)
