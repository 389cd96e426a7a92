"""The sending worker: its loop, and the workers that deliver each message.

One process per database sends (`leader.py`). Its loop starts due sends and keeps the running
ones' plans (`sends/lifecycle.py`), claims queued messages (`outbox/queue.py`) and feeds
`smtp_connections` workers; each worker renders, signs and hands its message to the first relay
whose breaker allows it (`transport/pool.py`), at the pace the rates allow. Every state change
goes through `OutboxWriter`. Crash semantics: docs/delivery.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import anyio
import structlog
import tenacity
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.delivery.confirmations import ConfirmationMailer
from justmaily.server.delivery.leader import Lease, LeaseLostError, sending_lock
from justmaily.server.delivery.link_tokens import LinkTokens, TokenKind
from justmaily.server.delivery.outbox.queue import CLAIM_BATCH, OutboxQueue
from justmaily.server.delivery.outbox.writer import Job, OutboxWriter
from justmaily.server.delivery.personalise import ContentError, ContentLimitError, RecipientUrls
from justmaily.server.delivery.sends.lifecycle import RunningSends, SendPlan
from justmaily.server.delivery.transport.message import Envelope, MessageError, compose
from justmaily.server.delivery.transport.pool import RelayPool, RelayRuntime
from justmaily.server.delivery.transport.smtp import Outcome, RelayConnection, Result
from justmaily.server.events import Events
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.settings import Settings
from justmaily.shared.audiences import SuppressionReason
from justmaily.shared.trust import CERTIFICATE_HEADER

log = structlog.get_logger(__name__)

_IDLE_SECONDS = 0.5
_LEASE_CHECK_SECONDS = 2.0
# A throttled message waits a twelfth of the first retry delay (5 s by default): the relay is
# fine, only busy, and the adaptive rate already slows what follows.
_THROTTLE_FRACTION = 12
# DKIM signatures are made off the event loop (OpenSSL releases the GIL); two cores, and a
# thread more, so that one waiting for the GIL to hand its signature back does not idle a core.
_SIGNING_THREADS = 3


class Sender:
    def __init__(
        self, database: Database, settings: Settings, tokens: LinkTokens, secrets: SecretBox, events: Events
    ) -> None:
        self.database, self.settings, self.tokens = database, settings, tokens
        self.running = anyio.Event()  # set once this process holds the sending lock
        self._stopping = anyio.Event()
        self._stopped = anyio.Event()
        self._wake = anyio.Event()
        self.outbox = OutboxQueue(database)
        self.sends = RunningSends(database, secrets, events, self.outbox)
        self.relays = RelayPool(database, settings.delivery, secrets)
        self._writer = OutboxWriter(database, self._stored)
        self._backoff = tenacity.wait_exponential_jitter(
            multiplier=settings.delivery.send_retry_seconds,
            max=6 * 3600,
            jitter=settings.delivery.send_retry_seconds / 2,
        )
        self._confirmations = ConfirmationMailer(
            database, settings, tokens, secrets, self.relays.confirmation_relay
        )
        self._signing_threads = ThreadPoolExecutor(_SIGNING_THREADS, thread_name_prefix="dkim")

    def wake(self) -> None:
        """Look for work now (a send was created, resumed or changed; relays may have changed)."""
        self.relays.changed()
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
            self.outbox.forget_claims()
            self.sends.plans = {}
            self._writer = OutboxWriter(self.database, self._stored)
            await self.outbox.recover()
            self.running.set()
            log.info("sender started", connections=self.settings.delivery.smtp_connections)
            send, receive = anyio.create_memory_object_stream[Job](CLAIM_BATCH * 2)
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
                    await self.relays.close()

    # --- dispatching ------------------------------------------------------------------------

    async def _dispatch(self, jobs: MemoryObjectSendStream[Job], lease: Lease) -> None:
        confirmed = anyio.current_time()
        async with jobs:
            while not self._stopping.is_set():
                if anyio.current_time() - confirmed > _LEASE_CHECK_SECONDS:
                    await lease.confirm()  # raises if another process may be sending now
                    confirmed = anyio.current_time()
                await self.sends.start_due()
                await self.sends.refresh()
                await self.relays.cover({plan.workspace_id for plan in self.sends.plans.values()})
                await self.sends.decide_ab_tests()
                claimed = await self.outbox.claim(self.sends.workspaces()) if self.sends.plans else []
                for job in claimed:
                    await jobs.send(job)
                if not claimed:
                    await self.sends.finish()
                    await self.sends.record_cancelled()
                    await self._send_confirmations()
                    with anyio.move_on_after(_IDLE_SECONDS):
                        await self._wake.wait()
                    self._wake = anyio.Event()

    async def _send_confirmations(self) -> None:
        due = await self._confirmations.workspaces_due()
        if not due:
            return
        if not self.relays.knows(due):
            await self.relays.cover(due | {plan.workspace_id for plan in self.sends.plans.values()})
        await self._confirmations.send_due()

    def _stored(self, ids: Iterable[uuid.UUID]) -> None:
        self.outbox.settled(ids)
        # An idle dispatcher looks again now: these may be the last of a send (which is then
        # done at once, not up to _IDLE_SECONDS later) or due again (a retry).
        self._wake.set()

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
        plan = self.sends.plans.get(job.send_id)
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
            await self.sends.pause(plan.send_id, f"the content cannot be sent: {exc}")
            return
        except (ContentError, MessageError) as exc:
            self._writer.failed_for_good(job, error=str(exc))
            return
        relay = self.relays.pick(plan.workspace_id)
        if relay is None:
            self._writer.retry(job, at=utcnow(), error="no relay available", count_attempt=False)
            await self.sends.pause(plan.send_id, self.relays.no_relay_alert(plan.workspace_id))
            return
        await self.relays.wait_turn(relay, job.to.recipient.email)
        connection = self.relays.connection(relay, connections)
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

    def _wait(self, attempt: int) -> float:
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = attempt
        return float(self._backoff(state))


def wake(sender: Sender | None) -> None:
    """Have the sender look for work now, if this process runs one (after a commit it must see)."""
    if sender is not None:
        sender.wake()


def _holds(exc: BaseException, kind: type[BaseException]) -> bool:
    """`exc` is, or (in a task group's exception group) contains, a `kind`."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(kind) is not None
    return isinstance(exc, kind)
