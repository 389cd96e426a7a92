"""The sending worker: starts due sends, claims queued messages, and delivers them.

One process per database sends (`leader.py`). A dispatcher claims queued messages into memory
and feeds `smtp_connections` workers; each worker renders, signs and hands its message to the
first relay whose breaker allows it, at the pace the global, per-domain and per-relay rates
allow. Every state change goes through `OutboxWriter`. Crash semantics: docs/delivery.md.
"""

from __future__ import annotations

import dataclasses
import ssl
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

import anyio
import structlog
import tenacity
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences import repository
from justmaily.server.campaigns import lifecycle
from justmaily.server.campaigns.models import Campaign
from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.delivery.confirmations import ConfirmationMailer
from justmaily.server.delivery.domains import address_domain, signing_keys
from justmaily.server.delivery.leader import Lease, LeaseLostError, sending_lock
from justmaily.server.delivery.link_tokens import LinkTokens, TokenKind
from justmaily.server.delivery.models import OutboxMessage, Relay, Send
from justmaily.server.delivery.outbox.writer import Job, OutboxWriter, sent_digests
from justmaily.server.delivery.personalise import (
    ContentError,
    ContentLimitError,
    PreparedContent,
    RecipientUrls,
    prepare,
)
from justmaily.server.delivery.sends import ab_testing
from justmaily.server.delivery.sends.ab_testing import AbState, Sampler
from justmaily.server.delivery.sends.withdrawal import cancel_unstarted_sends
from justmaily.server.delivery.transport.dkim import DkimSigner
from justmaily.server.delivery.transport.message import Envelope, MessageError, compose, new_message_id
from justmaily.server.delivery.transport.relays import AdaptiveRate, CircuitBreaker
from justmaily.server.delivery.transport.smtp import Outcome, RelayConnection, Result
from justmaily.server.events import Events
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.settings import Settings
from justmaily.server.settings.relay_urls import RelayConfig, parse_relay_list, parse_relay_url
from justmaily.server.trust.evidence import SendRecord, record_send
from justmaily.server.trust.models import CertificateRow
from justmaily.shared.audiences import SuppressionReason
from justmaily.shared.campaigns import SystemAction
from justmaily.shared.delivery import MessageState, SendStatus
from justmaily.shared.trust import CERTIFICATE_HEADER

log = structlog.get_logger(__name__)

_CLAIM_BATCH = 500
_MATERIALISE_BATCH = 2000
_IDLE_SECONDS = 0.5
_RELAYS_REFRESH_SECONDS = 5.0
_LEASE_CHECK_SECONDS = 2.0
# A throttled message waits a twelfth of the first retry delay (5 s by default): the relay is
# fine, only busy, and the adaptive rate already slows what follows.
_THROTTLE_FRACTION = 12
# DKIM signatures are made off the event loop (OpenSSL releases the GIL); two cores, and a
# thread more, so that one waiting for the GIL to hand its signature back does not idle a core.
_SIGNING_THREADS = 3


class SendBlockedError(Exception):
    """A send cannot go on (no DKIM key for its domain, bad content): it is paused with this alert."""


@dataclass
class SendPlan:
    """What every message of one send shares, prepared once."""

    send_id: uuid.UUID
    workspace_id: uuid.UUID
    content: PreparedContent
    signer: DkimSigner
    sender_name: str
    sender_address: str
    ab: AbState | None = None  # its A/B test of subject lines, if any
    certificate: str = ""  # the JustMaily-Certificate header: which certificate vouches for it


@dataclass
class RelayRuntime:
    config: RelayConfig
    breaker: CircuitBreaker
    rate: AdaptiveRate

    @property
    def key(self) -> str:
        return f"{self.config.url}|{self.config.username}"


class Sender:
    def __init__(
        self, database: Database, settings: Settings, tokens: LinkTokens, secrets: SecretBox, events: Events
    ) -> None:
        self.database, self.settings, self.tokens, self.secrets = database, settings, tokens, secrets
        self.events = events
        self.running = anyio.Event()  # set once this process holds the sending lock
        self._stopping = anyio.Event()
        self._stopped = anyio.Event()
        self._wake = anyio.Event()
        self._inflight: set[uuid.UUID] = set()  # claimed, and their change not yet seen by a claim
        self._settled: list[uuid.UUID] = []
        self._plans: dict[uuid.UUID, SendPlan] = {}
        self._writer = OutboxWriter(database, self._stored)
        self._env_relays = parse_relay_list(settings.delivery.smtp_relays)
        self._relay_state: dict[str, RelayRuntime] = {}
        self._workspace_relays: dict[uuid.UUID, list[RelayRuntime]] = {}
        self._relays_loaded_at = 0.0
        self._global_rate = AdaptiveRate(settings.delivery.send_rate_per_second or None)
        self._domain_rates: dict[str, AdaptiveRate] = {}
        self._backoff = tenacity.wait_exponential_jitter(
            multiplier=settings.delivery.send_retry_seconds,
            max=6 * 3600,
            jitter=settings.delivery.send_retry_seconds / 2,
        )
        self._tls = ssl.create_default_context()
        self._confirmations = ConfirmationMailer(
            database, settings, tokens, secrets, self._confirmation_relay
        )
        self._confirmation_connections: dict[str, RelayConnection] = {}
        self._signing_threads = ThreadPoolExecutor(_SIGNING_THREADS, thread_name_prefix="dkim")

    def wake(self) -> None:
        """Look for work now (a send was created, resumed or changed; relays may have changed)."""
        self._relays_loaded_at = 0.0
        self._wake.set()

    async def run_forever(self) -> None:
        """`run`, restarted after a failure: a sender bug must not take the API down with it."""
        try:
            while not self._stopping.is_set():
                try:
                    await self.run()
                except Exception as exc:
                    if _holds(exc, LeaseLostError):
                        log.error("the sending lock was lost; taking it again in 5 s", error=str(exc))
                    else:
                        log.exception("the sender failed; restarting in 5 s")
                    self.running = anyio.Event()
                    with anyio.move_on_after(5):
                        await self._stopping.wait()
        finally:
            self._signing_threads.shutdown(wait=False)
            self._stopped.set()

    async def stop(self) -> None:
        """Stop at a safe point: messages in a worker's hands finish, the rest stay queued.

        Cancelling the sender instead could interrupt a database call half-way, which leaves
        aiosqlite connections that never close.
        """
        self._stopping.set()
        self._wake.set()
        await self._stopped.wait()

    async def run(self) -> None:
        async with sending_lock(self.database, self.settings, self._stopping) as lease:
            if lease is None:
                return
            # A fresh start of everything a run keeps in memory: after a failed run, its claims
            # (never settled) would otherwise block those messages, and its writer is closed.
            self._inflight, self._settled, self._plans = set(), [], {}
            self._writer = OutboxWriter(self.database, self._stored)
            await self._recover()
            self.running.set()
            log.info("sender started", connections=self.settings.delivery.smtp_connections)
            send, receive = anyio.create_memory_object_stream[Job](_CLAIM_BATCH * 2)
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(self._writer.run)
                    async with anyio.create_task_group() as workers:
                        for _ in range(self.settings.delivery.smtp_connections):
                            workers.start_soon(self._work, receive.clone())
                        receive.close()
                        await self._dispatch(send, lease)
                    self._writer.close()  # after the workers' last changes
            finally:
                with anyio.CancelScope(shield=True):
                    await self._writer.flush()
                    for connection in self._confirmation_connections.values():
                        await connection.close()

    # --- dispatching ------------------------------------------------------------------------

    async def _dispatch(self, jobs: MemoryObjectSendStream[Job], lease: Lease) -> None:
        confirmed = anyio.current_time()
        async with jobs:
            while not self._stopping.is_set():
                if anyio.current_time() - confirmed > _LEASE_CHECK_SECONDS:
                    await lease.confirm()  # raises if another process may be sending now
                    confirmed = anyio.current_time()
                await self._start_due_sends()
                await self._refresh_plans()
                await self._decide_ab_tests()
                claimed = await self._claim() if self._plans else []
                for job in claimed:
                    await jobs.send(job)
                if not claimed:
                    await self._finish_sends()
                    await self._record_cancelled_sends()
                    await self._send_confirmations()
                    with anyio.move_on_after(_IDLE_SECONDS):
                        await self._wake.wait()
                    self._wake = anyio.Event()

    async def _send_confirmations(self) -> None:
        due = await self._confirmations.workspaces_due()
        if not due:
            return
        if not due <= set(self._workspace_relays):
            await self._load_relays(due | {plan.workspace_id for plan in self._plans.values()})
        await self._confirmations.send_due()

    def _confirmation_relay(self, workspace_id: uuid.UUID) -> tuple[RelayConnection, CircuitBreaker] | None:
        relay = self._pick_relay(workspace_id)
        if relay is None:
            return None
        connection = self._confirmation_connections.get(relay.key)
        if connection is None or connection.relay != relay.config:
            connection = self._confirmation_connections[relay.key] = RelayConnection(
                relay.config, timeout=self.settings.delivery.smtp_timeout_seconds, tls_context=self._tls
            )
        return connection, relay.breaker

    def _stored(self, ids: Iterable[uuid.UUID]) -> None:
        # Not removed from `_inflight` here: a claim query running now may have read these rows
        # before their change was committed. The next claim removes them before it queries.
        self._settled.extend(ids)
        # An idle dispatcher looks again now: these may be the last of a send (which is then
        # done at once, not up to _IDLE_SECONDS later) or due again (a retry).
        self._wake.set()

    async def _recover(self) -> None:
        """Messages handed to a relay when the last sender died may be out: send them again."""
        async with self.database.session() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.state == MessageState.SENDING)
                .values(
                    state=MessageState.QUEUED,
                    in_doubt=True,
                    last_error="in doubt after a restart: the relay may have it; sent again",
                )
            )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.warning("messages in doubt after a restart are sent again", messages=count)

    async def _start_due_sends(self) -> None:
        async with self.database.session(read_only=True) as session:
            due = list(
                await session.scalars(
                    select(Send.id).where(Send.status == SendStatus.SCHEDULED, Send.send_at <= utcnow())
                )
            )
        for send_id in due:
            try:
                await self._materialise(send_id)
            except SendBlockedError as exc:
                await self._pause(send_id, str(exc))

    async def _materialise(self, send_id: uuid.UUID) -> None:
        """Queue one outbox row per recipient, in batches; a crash half-way resumes where it was."""
        async with self.database.session(read_only=True) as session:
            send = await session.get(Send, send_id)
            if send is None:
                return
            campaign = await session.get(Campaign, send.campaign_id)
            approved = campaign is not None and campaign.approved_hash == send.content_hash
            workspace_id, list_id, segment_id = send.workspace_id, send.list_id, send.segment_id
            domain = _sender_domain(send.content["sender"])
            ab = AbState.of(send)
            # The last contact queued (PostgreSQL has no max() of uuid; the unique index serves this).
            after = await session.scalar(
                select(OutboxMessage.contact_id)
                .where(OutboxMessage.send_id == send_id)
                .order_by(OutboxMessage.contact_id.desc())
                .limit(1)
            )
        if not approved:  # voiding the approval cancels its sends; this covers any other way
            async with self.database.session() as session, session.begin():
                alert = "cancelled: the campaign's content is no longer what was approved"
                await cancel_unstarted_sends(session, send.campaign_id, alert)
            log.warning("send cancelled: its approval no longer stands", send_id=str(send_id))
            return
        where = await _segment_filter(self.database, workspace_id, segment_id)
        sampler = None if ab is None else await self._sampler(send_id, ab, list_id, where)
        while True:
            async with self.database.session() as session, session.begin():
                ids = await repository.audience_page(
                    session, workspace_id, list_id=list_id, where=where, after=after, limit=_MATERIALISE_BATCH
                )
                if not ids:
                    break
                now = utcnow()
                for contact_id in ids:
                    variant = None if sampler is None else sampler.take(contact_id)
                    session.add(
                        OutboxMessage(
                            send_id=send_id,
                            contact_id=contact_id,
                            message_id=new_message_id(domain),
                            next_attempt_at=now,
                            variant=variant,
                            ab_sample=variant is not None,
                            state=MessageState.HELD
                            if sampler is not None and variant is None
                            else MessageState.QUEUED,
                        )
                    )
            after = ids[-1]
        async with self.database.session() as session, session.begin():
            send = await session.get(Send, send_id)
            if send is None or send.status != SendStatus.SCHEDULED:
                return
            send.recipients = int(
                await session.scalar(
                    select(func.count()).select_from(OutboxMessage).where(OutboxMessage.send_id == send_id)
                )
                or 0
            )
            send.status, send.started_at = SendStatus.SENDING, utcnow()
            ab = AbState.of(send)
            if ab is not None:
                ab_testing.started(ab, send.started_at)
                ab.store(send)
            await self._campaign_moves(session, send.campaign_id, SystemAction.SENDING_STARTED)
        log.info("send started", send_id=str(send_id), recipients=send.recipients)

    async def _sampler(
        self, send_id: uuid.UUID, ab: AbState, list_id: uuid.UUID | None, where: Any
    ) -> Sampler:
        """The A/B sample's draw, resumed where a crash left it: the audience is counted once."""
        async with self.database.session() as session, session.begin():
            send = await session.get(Send, send_id)
            assert send is not None
            if ab.audience is None or ab.sample_size is None:
                ab.audience = await repository.audience_size(
                    session, send.workspace_id, list_id=list_id, where=where
                )
                ab.sample_size = ab_testing.sample_size(ab.audience, ab.sample_percent, len(ab.subjects))
                ab.store(send)
            queued = OutboxMessage.send_id == send_id
            seen = await session.scalar(select(func.count()).where(queued))
            taken = await session.scalar(
                select(func.count()).where(queued, OutboxMessage.ab_sample.is_(True))
            )
        return Sampler(
            send_id, ab.audience, ab.sample_size, len(ab.subjects), int(seen or 0), int(taken or 0)
        )

    async def _decide_ab_tests(self) -> None:
        """Tests whose window is over pick their winner; the held rest of the audience is queued."""
        now = utcnow()
        for plan in list(self._plans.values()):
            if plan.ab is None or not plan.ab.due(now):
                continue
            async with self.database.session() as session, session.begin():
                plan.ab = await ab_testing.decide(session, plan.send_id, now)
            if plan.ab is not None:
                log.info(
                    "A/B test decided",
                    send_id=str(plan.send_id),
                    winner=plan.ab.subjects[plan.ab.winner or 0],
                )

    async def _refresh_plans(self) -> None:
        async with self.database.session(read_only=True) as session:
            active = {
                row.id: row
                for row in await session.scalars(select(Send).where(Send.status == SendStatus.SENDING))
            }
            for gone in set(self._plans) - set(active):
                del self._plans[gone]
            blocked = {}
            for send_id, send in active.items():
                if send_id in self._plans:
                    continue
                try:
                    self._plans[send_id] = await self._plan(session, send)
                except SendBlockedError as exc:
                    blocked[send_id] = str(exc)
        for send_id, problem in blocked.items():  # paused after the read session ended
            await self._pause(send_id, problem)
        workspaces = {plan.workspace_id for plan in self._plans.values()}
        stale = anyio.current_time() - self._relays_loaded_at > _RELAYS_REFRESH_SECONDS
        if stale or not workspaces <= set(self._workspace_relays):
            await self._load_relays(workspaces)

    async def _plan(self, session: AsyncSession, send: Send) -> SendPlan:
        name, address = parseaddr(send.content["sender"])
        domain = _sender_domain(send.content["sender"])
        keys = await signing_keys(session, self.secrets, send.workspace_id, domain)
        if not keys:
            raise SendBlockedError(
                f"no DKIM key for {domain}: add it under sending domains (POST /api/delivery/domains)"
            )
        ab = AbState.of(send)
        known = await repository.attribute_keys(session, send.workspace_id)
        try:
            content = prepare(send.content, known, ab.subjects if ab else ())
        except ContentError as exc:
            raise SendBlockedError(f"the content cannot be sent: {exc}") from None
        certificate = await _certificate_header(session, send)
        return SendPlan(send.id, send.workspace_id, content, DkimSigner(keys), name, address, ab, certificate)

    async def _claim(self) -> list[Job]:
        settled, self._settled = self._settled, []
        self._inflight.difference_update(settled)
        now = utcnow()
        async with self.database.session(read_only=True) as session:
            rows = (
                await session.execute(
                    select(
                        OutboxMessage.id,
                        OutboxMessage.send_id,
                        OutboxMessage.contact_id,
                        OutboxMessage.message_id,
                        OutboxMessage.attempts,
                        OutboxMessage.variant,
                    )
                    .where(
                        OutboxMessage.state == MessageState.QUEUED,
                        OutboxMessage.next_attempt_at <= now,
                        OutboxMessage.send_id.in_(list(self._plans)),
                    )
                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                    .limit(_CLAIM_BATCH + len(self._inflight))
                )
            ).all()
            fresh = [row for row in rows if row[0] not in self._inflight][:_CLAIM_BATCH]
            by_workspace: dict[uuid.UUID, list[uuid.UUID]] = {}
            for row in fresh:
                by_workspace.setdefault(self._plans[row[1]].workspace_id, []).append(row[2])
            people = {}
            for workspace_id, contact_ids in by_workspace.items():
                people.update(await repository.recipients(session, workspace_id, contact_ids))
        jobs = []
        for outbox_id, send_id, contact_id, message_id, attempts, variant in fresh:
            plan = self._plans[send_id]
            jobs.append(
                Job(
                    outbox_id,
                    send_id,
                    plan.workspace_id,
                    contact_id,
                    message_id,
                    attempts,
                    people.get(contact_id),
                    variant or 0,
                )
            )
            self._inflight.add(outbox_id)
        return jobs

    async def _finish_sends(self) -> None:
        """Sends with nothing left to send are done; their campaign is sent."""
        busy = [MessageState.QUEUED, MessageState.SENDING, MessageState.HELD]
        async with self.database.session(read_only=True) as session:
            open_sends = set(
                await session.scalars(
                    select(OutboxMessage.send_id)
                    .where(OutboxMessage.send_id.in_(list(self._plans)), OutboxMessage.state.in_(busy))
                    .distinct()
                )
            )
        finished = [send_id for send_id in self._plans if send_id not in open_sends]
        if not finished:
            return
        async with self.database.session() as session, session.begin():
            for send_id in finished:
                send = await session.get(Send, send_id)
                if send is None or send.status != SendStatus.SENDING:
                    continue
                send.status, send.finished_at = SendStatus.DONE, utcnow()
                await self._campaign_moves(session, send.campaign_id, SystemAction.SENDING_FINISHED)
                # Committed with "done". After the campaign's row: approvals lock the campaign,
                # then the log, and so must everything else, or two could deadlock on PostgreSQL.
                send.log_index = await _put_on_record(session, send)
                log.info("send done", send_id=str(send_id))
        for send_id in finished:
            self._plans.pop(send_id, None)

    async def _record_cancelled_sends(self) -> None:
        """A send cancelled after it started: once no message is in a relay's hands, what went
        out is put on the record as a finished send's is."""
        in_flight = (
            select(OutboxMessage.id)
            .where(OutboxMessage.send_id == Send.id, OutboxMessage.state == MessageState.SENDING)
            .exists()
        )
        unrecorded = (
            Send.status == SendStatus.CANCELLED,
            Send.started_at.is_not(None),
            Send.log_index.is_(None),
            ~in_flight,
        )
        async with self.database.session(read_only=True) as session:  # mostly none: no write turn
            if not await session.scalar(select(Send.id).where(*unrecorded).limit(1)):
                return
        async with self.database.session() as session, session.begin():
            for send in await session.scalars(select(Send).where(*unrecorded)):
                send.log_index = await _put_on_record(session, send)

    async def _campaign_moves(
        self, session: AsyncSession, campaign_id: uuid.UUID, action: SystemAction
    ) -> None:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is not None:
            await lifecycle.system(session, self.events, campaign, action)

    async def _pause(self, send_id: uuid.UUID, alert: str) -> None:
        self._plans.pop(send_id, None)
        async with self.database.session() as session, session.begin():
            send = await session.get(Send, send_id)
            if send is None or send.status not in (SendStatus.SENDING, SendStatus.SCHEDULED):
                return
            send.status, send.alert = SendStatus.PAUSED, alert[:2000]
        log.error("send paused", send_id=str(send_id), alert=alert)

    # --- relays -----------------------------------------------------------------------------

    async def _load_relays(self, workspace_ids: set[uuid.UUID]) -> None:
        self._relays_loaded_at = anyio.current_time()
        async with self.database.session(read_only=True) as session:
            rows = list(
                await session.scalars(
                    select(Relay)
                    .where(Relay.workspace_id.in_(workspace_ids))
                    .order_by(Relay.priority, Relay.name)
                )
            )
        loaded: dict[uuid.UUID, list[RelayRuntime]] = {workspace_id: [] for workspace_id in workspace_ids}
        for row in rows:
            config = relay_config(
                row, self.secrets, internal_allowed=self.settings.delivery.smtp_allow_private_relays
            )
            loaded[row.workspace_id].append(self._runtime(config))
        environment = [self._runtime(config) for config in self._env_relays]
        self._workspace_relays = {key: value + environment for key, value in loaded.items()}

    def _runtime(self, config: RelayConfig) -> RelayRuntime:
        key = f"{config.url}|{config.username}"
        runtime = self._relay_state.get(key)
        if runtime is None or runtime.config != config:
            runtime = RelayRuntime(
                config,
                CircuitBreaker(
                    threshold=self.settings.delivery.relay_failures_to_open,
                    cooldown=self.settings.delivery.relay_cooldown_seconds,
                ),
                AdaptiveRate(config.max_per_second),
            )
            self._relay_state[key] = runtime
        return runtime

    def relay_rates(self) -> dict[str, float | None]:
        """Each relay's current rate limit (None: none), as the adaptive rates have set it."""
        return {runtime.config.url: runtime.rate.rate for runtime in self._relay_state.values()}

    def _pick_relay(self, workspace_id: uuid.UUID) -> RelayRuntime | None:
        for relay in self._workspace_relays.get(workspace_id, []):
            if relay.breaker.allow():
                return relay
        return None

    # --- delivering -------------------------------------------------------------------------

    async def _work(self, jobs: MemoryObjectReceiveStream[Job]) -> None:
        connections: dict[str, RelayConnection] = {}
        try:
            async with jobs:
                async for job in jobs:
                    await self._deliver(job, connections)
        finally:
            with anyio.CancelScope(shield=True):
                for connection in connections.values():
                    await connection.close()

    async def _deliver(self, job: Job, connections: dict[str, RelayConnection]) -> None:
        plan = self._plans.get(job.send_id)
        if plan is None or self._stopping.is_set():  # paused, cancelled or stopping: stays queued
            self._stored([job.id])
            return
        if job.to is None:
            self._writer.failed_for_good(job, error="the contact was erased")
            return
        if job.to.blocked:
            self._writer.suppressed(job, reason=job.to.blocked)
            return
        try:
            message, body_hash = await plan.signer.signed_on(self._signing_threads, self._message(plan, job))
        except ContentLimitError as exc:
            # The template, not this contact: every message would stall the sender as long.
            self._stored([job.id])  # stays queued
            await self._pause(plan.send_id, f"the content cannot be sent: {exc}")
            return
        except (ContentError, MessageError) as exc:
            self._writer.failed_for_good(job, error=str(exc))
            return
        relay = self._pick_relay(plan.workspace_id)
        if relay is None:
            self._writer.retry(job, at=utcnow(), error="no relay available", count_attempt=False)
            await self._pause(plan.send_id, self._no_relay_alert(plan.workspace_id))
            return
        await self._global_rate.wait_turn()
        await self._domain_rate(job.to.recipient.email).wait_turn()
        await relay.rate.wait_turn()
        connection = connections.get(relay.key)
        if connection is None or connection.relay != relay.config:
            connection = connections[relay.key] = RelayConnection(
                relay.config, timeout=self.settings.delivery.smtp_timeout_seconds, tls_context=self._tls
            )
        handed_off = False

        async def hand_off() -> bool:
            nonlocal handed_off
            handed_off = await self._writer.handing_off(job)
            return handed_off

        result = await connection.transaction(plan.sender_address, job.to.recipient.email, message, hand_off)
        self._settle(job, relay, result, body_hash, handed_off)

    def _settle(
        self, job: Job, relay: RelayRuntime, result: Result, body_hash: str, handed_off: bool
    ) -> None:
        assert job.to is not None
        now = utcnow()
        attempts = job.attempts + 1
        if result.outcome is Outcome.WITHDRAWN:
            self._stored([job.id])  # nothing to write: the outbox row says cancelled already
        elif result.outcome is Outcome.SENT:
            relay.breaker.succeeded()
            relay.rate.recovered()
            self._writer.sent(job, relay=relay.config.name, digest=body_hash, reply=result.detail, when=now)
        elif result.outcome is Outcome.PERMANENT:
            relay.breaker.succeeded()  # the relay works; it is the address that is refused
            self._writer.failed_for_good(
                job, error=result.detail, suppress=SuppressionReason.BOUNCED, email_key=job.to.email_key
            )
        elif result.outcome is Outcome.THROTTLED:
            relay.rate.slow_down()
            pause = timedelta(seconds=self.settings.delivery.send_retry_seconds / _THROTTLE_FRACTION)
            self._writer.retry(job, at=now + pause, error=result.detail, count_attempt=False)
        elif result.outcome is Outcome.RELAY_FAILED:
            relay.breaker.failed(result.detail)
            self._writer.retry(job, at=now, error=result.detail, count_attempt=False)
        elif attempts >= self.settings.delivery.send_max_attempts:
            self._writer.failed_for_good(job, error=f"gave up after {attempts} attempts: {result.detail}")
        else:  # RETRY or IN_DOUBT: again later, with backoff
            if result.outcome is Outcome.IN_DOUBT:
                relay.breaker.failed(result.detail)
            self._writer.retry(
                job,
                at=now + timedelta(seconds=self._wait(attempts)),
                error=result.detail,
                count_attempt=not handed_off,
                in_doubt=result.outcome is Outcome.IN_DOUBT,
            )

    def _message(self, plan: SendPlan, job: Job) -> bytes:
        """The message as composed for this recipient, before DKIM signing."""
        assert job.to is not None
        base = self.settings.public_url.rstrip("/")
        unsubscribe = f"{base}/u/{self.tokens.issue(TokenKind.UNSUBSCRIBE, job.id)}"
        urls = RecipientUrls(
            unsubscribe=unsubscribe,
            open_pixel=f"{base}/t/o/{self.tokens.issue(TokenKind.OPEN, job.id)}",
            click=lambda link: f"{base}/t/c/{self.tokens.issue(TokenKind.CLICK, job.id, link)}",
        )
        person = job.to.recipient
        rendered = plan.content.render(person, urls, job.variant)
        headers = [("X-JustMaily-Send", str(job.send_id))]
        if plan.certificate:
            headers.append((CERTIFICATE_HEADER, plan.certificate))
        return compose(
            Envelope(
                sender_name=plan.sender_name,
                sender_address=plan.sender_address,
                recipient_name=person.name,
                recipient_address=person.email,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                message_id=job.message_id,
                date=utcnow(),
                list_unsubscribe_url=unsubscribe,
                extra_headers=tuple(headers),
            )
        )

    def _domain_rate(self, address: str) -> AdaptiveRate:
        domain = address.rpartition("@")[2].lower()
        rate = self._domain_rates.get(domain)
        if rate is None:
            rate = self._domain_rates[domain] = AdaptiveRate(
                self.settings.delivery.send_rate_per_domain or None
            )
        return rate

    def _wait(self, attempt: int) -> float:
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = attempt
        return float(self._backoff(state))

    def _no_relay_alert(self, workspace_id: uuid.UUID) -> str:
        relays = self._workspace_relays.get(workspace_id, [])
        if not relays:
            return "no SMTP relay is configured: add one (POST /api/delivery/relays) and resume"
        failing = "; ".join(f"{r.config.name}: {r.breaker.last_error or 'failing'}" for r in relays)
        return f"every relay is failing ({failing}); resume once one works"


def wake(sender: Sender | None) -> None:
    """Have the sender look for work now, if this process runs one (after a commit it must see)."""
    if sender is not None:
        sender.wake()


def relay_config(row: Relay, secrets: SecretBox, *, internal_allowed: bool) -> RelayConfig:
    """A stored relay as the sender uses it (the address parsed, the password opened)."""
    return dataclasses.replace(
        parse_relay_url(row.url, name=row.name, priority=row.priority, internal_allowed=internal_allowed),
        username=row.username,
        password=secrets.open(row.password).decode() if row.password else "",
        max_per_second=row.max_per_second,
    )


async def _certificate_header(session: AsyncSession, send: Send) -> str:
    if not send.certificate_serial:
        return ""
    row = await session.get(CertificateRow, send.certificate_serial)
    approval = "" if row is None else f"; approval={row.log_index}"
    return f"serial={send.certificate_serial}{approval}; content-hash={send.content_hash}"


def _sender_domain(sender: str) -> str:
    domain = address_domain(sender)
    if domain is None:
        raise SendBlockedError(f"the sender {sender!r} has no address")
    return domain


async def _segment_filter(database: Database, workspace_id: uuid.UUID, segment_id: uuid.UUID | None) -> Any:
    if segment_id is None:
        return None
    from justmaily.server.audiences.service import segment_where

    async with database.session(read_only=True) as session:
        return await segment_where(session, workspace_id, segment_id, utcnow())


async def _put_on_record(session: AsyncSession, send: Send) -> int:
    """The send's batch and entry in the transparency log; returns the entry's index."""
    record = SendRecord(
        workspace_id=send.workspace_id,
        send_id=send.id,
        campaign_id=send.campaign_id,
        content_hash=send.content_hash,
        certificate_serial=send.certificate_serial,
        finished_at=send.finished_at,
    )
    return await record_send(session, record, await sent_digests(session, send.id))


def _holds(exc: BaseException, kind: type[BaseException]) -> bool:
    """`exc` is, or (in a task group's exception group) contains, a `kind`."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(kind) is not None
    return isinstance(exc, kind)
