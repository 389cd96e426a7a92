"""The sends the sender is running, from due to done.

A due send is started: its recipients are queued (the A/B sample drawn as they are) and its
campaign moves to sending. Each running send has a plan, what all of its messages share, prepared
once. A/B tests pick their winner when their window ends. A send with nothing left to send is
done: its campaign is sent and its batch is put on the record (the transparency log); so is what
went out of a send cancelled after it started. A send that cannot go on is paused with an alert.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences import repository
from justmaily.server.audiences.service import segment_where
from justmaily.server.campaigns import lifecycle
from justmaily.server.campaigns.models import Campaign
from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.delivery.domains import SendBlockedError, sending_domain_of, signing_keys
from justmaily.server.delivery.models import Send
from justmaily.server.delivery.outbox import queue
from justmaily.server.delivery.outbox.queue import OutboxQueue
from justmaily.server.delivery.personalise import ContentError, PreparedContent, prepare
from justmaily.server.delivery.sends import ab_testing
from justmaily.server.delivery.sends.ab_testing import AbState, Sampler
from justmaily.server.delivery.sends.withdrawal import cancel_unstarted_sends
from justmaily.server.delivery.transport.dkim import DkimSigner
from justmaily.server.events import Events
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.trust.evidence import SendRecord, record_send
from justmaily.server.trust.models import CertificateRow
from justmaily.shared.campaigns import SystemAction
from justmaily.shared.delivery import SendStatus

log = structlog.get_logger(__name__)


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


class RunningSends:
    def __init__(self, database: Database, secrets: SecretBox, events: Events, outbox: OutboxQueue) -> None:
        self.database, self.secrets, self.events, self.outbox = database, secrets, events, outbox
        self.plans: dict[uuid.UUID, SendPlan] = {}

    def workspaces(self) -> dict[uuid.UUID, uuid.UUID]:
        """Each running send's workspace."""
        return {send_id: plan.workspace_id for send_id, plan in self.plans.items()}

    async def start_due(self) -> None:
        async with self.database.session(read_only=True) as session:
            due = list(
                await session.scalars(
                    select(Send.id).where(Send.status == SendStatus.SCHEDULED, Send.send_at <= utcnow())
                )
            )
        for send_id in due:
            try:
                await self._start(send_id)
            except SendBlockedError as exc:
                await self.pause(send_id, str(exc))

    async def _start(self, send_id: uuid.UUID) -> None:
        """Queue the send's recipients and start it; a crash half-way resumes where it was."""
        async with self.database.session(read_only=True) as session:
            send = await session.get(Send, send_id)
            if send is None:
                return
            campaign = await session.get(Campaign, send.campaign_id)
            approved = campaign is not None and campaign.approved_hash == send.content_hash
            domain = sending_domain_of(send.content["sender"])
            ab = AbState.of(send)
        if not approved:  # voiding the approval cancels its sends; this covers any other way
            async with self.database.session() as session, session.begin():
                alert = "cancelled: the campaign's content is no longer what was approved"
                await cancel_unstarted_sends(session, send.campaign_id, alert)
            log.warning("send cancelled: its approval no longer stands", send_id=str(send_id))
            return
        where = await _segment_filter(self.database, send.workspace_id, send.segment_id)
        sampler = None if ab is None else await self._sampler(send, ab, where)
        await self.outbox.queue(send, domain, where, sampler)
        async with self.database.session() as session, session.begin():
            send = await session.get(Send, send_id)
            if send is None or send.status != SendStatus.SCHEDULED:
                return
            send.recipients = await queue.count(session, send_id)
            send.status, send.started_at = SendStatus.SENDING, utcnow()
            ab = AbState.of(send)
            if ab is not None:
                ab_testing.started(ab, send.started_at)
                ab.store(send)
            await self._campaign_moves(session, send.campaign_id, SystemAction.SENDING_STARTED)
        log.info("send started", send_id=str(send_id), recipients=send.recipients)

    async def _sampler(self, send: Send, ab: AbState, where: Any) -> Sampler:
        """The A/B sample's draw, resumed where a crash left it: the audience is counted once."""
        async with self.database.session() as session, session.begin():
            row = await session.get(Send, send.id)
            assert row is not None
            if ab.audience is None or ab.sample_size is None:
                ab.audience = await repository.audience_size(
                    session, row.workspace_id, list_id=row.list_id, where=where
                )
                ab.sample_size = ab_testing.sample_size(ab.audience, ab.sample_percent, len(ab.subjects))
                ab.store(row)
            seen = await queue.count(session, send.id)
            taken = await queue.count(session, send.id, in_sample=True)
        return Sampler(send.id, ab.audience, ab.sample_size, len(ab.subjects), seen, taken)

    async def refresh(self) -> None:
        """A plan for every send running now; none for those paused, cancelled or done since."""
        async with self.database.session(read_only=True) as session:
            active = {
                row.id: row
                for row in await session.scalars(select(Send).where(Send.status == SendStatus.SENDING))
            }
            for gone in set(self.plans) - set(active):
                del self.plans[gone]
            blocked = {}
            for send_id, send in active.items():
                if send_id in self.plans:
                    continue
                try:
                    self.plans[send_id] = await self._plan(session, send)
                except SendBlockedError as exc:
                    blocked[send_id] = str(exc)
        for send_id, problem in blocked.items():  # paused after the read session ended
            await self.pause(send_id, problem)

    async def _plan(self, session: AsyncSession, send: Send) -> SendPlan:
        name, address = parseaddr(send.content["sender"])
        domain = sending_domain_of(send.content["sender"])
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

    async def decide_ab_tests(self) -> None:
        """Tests whose window is over pick their winner; the held rest of the audience is queued."""
        now = utcnow()
        for plan in list(self.plans.values()):
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

    async def finish(self) -> None:
        """Sends with nothing left to send are done; their campaign is sent."""
        busy = await self.outbox.busy(self.plans)
        finished = [send_id for send_id in self.plans if send_id not in busy]
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
            self.plans.pop(send_id, None)

    async def record_cancelled(self) -> None:
        """A send cancelled after it started: once no message is in a relay's hands, what went
        out is put on the record as a finished send's is."""
        unrecorded = (
            Send.status == SendStatus.CANCELLED,
            Send.started_at.is_not(None),
            Send.log_index.is_(None),
            ~queue.handed_to_a_relay(Send.id),
        )
        async with self.database.session(read_only=True) as session:  # mostly none: no write turn
            if not await session.scalar(select(Send.id).where(*unrecorded).limit(1)):
                return
        async with self.database.session() as session, session.begin():
            for send in await session.scalars(select(Send).where(*unrecorded)):
                send.log_index = await _put_on_record(session, send)

    async def pause(self, send_id: uuid.UUID, alert: str) -> None:
        self.plans.pop(send_id, None)
        async with self.database.session() as session, session.begin():
            send = await session.get(Send, send_id)
            if send is None or send.status not in (SendStatus.SENDING, SendStatus.SCHEDULED):
                return
            send.status, send.alert = SendStatus.PAUSED, alert[:2000]
        log.error("send paused", send_id=str(send_id), alert=alert)

    async def _campaign_moves(
        self, session: AsyncSession, campaign_id: uuid.UUID, action: SystemAction
    ) -> None:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is not None:
            await lifecycle.system(session, self.events, campaign, action)


async def _certificate_header(session: AsyncSession, send: Send) -> str:
    if not send.certificate_serial:
        return ""
    row = await session.get(CertificateRow, send.certificate_serial)
    approval = "" if row is None else f"; approval={row.log_index}"
    return f"serial={send.certificate_serial}{approval}; content-hash={send.content_hash}"


async def _segment_filter(database: Database, workspace_id: uuid.UUID, segment_id: uuid.UUID | None) -> Any:
    if segment_id is None:
        return None
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
    return await record_send(session, record, await queue.sent_digests(session, send.id))
