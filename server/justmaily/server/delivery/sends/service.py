"""Sends of approved campaigns: create (what the last review froze), preview, read, pause,
resume, cancel, pick an A/B winner."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime

import anyio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences import repository
from justmaily.server.audiences.repository import Recipient
from justmaily.server.audiences.service import AudienceService, segment_where
from justmaily.server.campaigns import lifecycle
from justmaily.server.campaigns.models import Campaign
from justmaily.server.campaigns.service import find
from justmaily.server.collaboration.frozen import last_reviewed
from justmaily.server.db.base import utcnow
from justmaily.server.delivery import personalise
from justmaily.server.delivery.domains import (
    address_domain,
    find_domain,
)
from justmaily.server.delivery.models import (
    MessageEvent,
    Relay,
    Send,
)
from justmaily.server.delivery.outbox import queue
from justmaily.server.delivery.personalise import (
    PREVIEW_LIMITS,
    ContentError,
    ContentLimitError,
    prepare,
)
from justmaily.server.delivery.sends import ab_testing, gate
from justmaily.server.delivery.sends.gate import GateResult
from justmaily.server.delivery.views import to_wire
from justmaily.server.events import Events
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.principal import Principal
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.settings import Settings
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.server.trust.certificates import certificate_for
from justmaily.shared import delivery as wire
from justmaily.shared.campaigns import CampaignAction, SystemAction, TransitionRequest
from justmaily.shared.collaboration import SUBJECT_VARIANTS, CampaignContent, subject_lines
from justmaily.shared.delivery import EventKind, MessageState, SendStatus
from justmaily.shared.problems import FieldError

_PAUSABLE = frozenset({SendStatus.SCHEDULED, SendStatus.SENDING})
_ENGAGEMENT = (
    EventKind.OPENED,
    EventKind.CLICKED,
    EventKind.BOUNCED,
    EventKind.COMPLAINED,
    EventKind.UNSUBSCRIBED,
)
# A preview's wait beyond its rendering limit, for the Markdown and compiling around it.
_PREVIEW_GRACE_SECONDS = 2.0
_CANCELLABLE = frozenset({SendStatus.SCHEDULED, SendStatus.SENDING, SendStatus.PAUSED})


def sender_domain(sender: str) -> str:
    domain = address_domain(sender)
    if domain is None:
        raise ApiError(409, "no_sender", "the campaign has no sender address: set one, then approve again")
    return domain


class SendService:
    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        secrets: SecretBox,
        ca: CertificateAuthority,
        events: Events,
    ) -> None:
        self.session, self.settings, self.secrets, self.ca = session, settings, secrets, ca
        self.events = events

    async def create(
        self,
        principal: Principal,
        campaign_id: uuid.UUID,
        data: wire.SendCreate,
        checked: GateResult | None = None,
    ) -> Send:
        """Queue the approved campaign for sending now or at `send_at`; the sender does the rest.
        `checked`: the content gate's passed check of the approved content, recorded with the send."""
        campaign = await find(self.session, principal, campaign_id, for_update=True)
        now = utcnow()
        send_at = self._send_at(data.send_at, now)
        action = CampaignAction.SCHEDULE if send_at > now else CampaignAction.SEND
        move = TransitionRequest(action=action, send_at=send_at)
        lifecycle.check_transition(principal, campaign, move, None)
        # What was sent to review, as it was then: what the approval covers (its hash in today's
        # form is `review_hash`, also for an approval made while comments counted, migration 0011);
        # the send records the approved hash, as the certificate and the transparency log do.
        content = await last_reviewed(self.session, campaign.id)
        if campaign.approved_hash is None or content is None or content.content_hash != campaign.review_hash:
            raise ApiError(
                409, "content_changed", "the content is not what was approved: send it to review again"
            )
        workspace_id = principal.workspace_id
        await self._check_audience(workspace_id, data, now)
        domain = sender_domain(content.sender)
        if await find_domain(self.session, workspace_id, domain) is None:
            raise ApiError(
                409,
                "no_sending_domain",
                f"add {domain} as a sending domain (its DKIM keys) before sending from it",
            )
        if not await self._has_relay(workspace_id):
            raise ApiError(
                409, "no_relay", "no SMTP relay: add one (POST /api/delivery/relays) before sending"
            )
        frozen = {
            "sender": content.sender,
            "subject": content.subject,
            "preheader": content.preheader,
            "body": content.body,
            SUBJECT_VARIANTS: content.subject_variants,
        }
        subjects = self._ab_subjects(data, content)
        try:
            prepared = prepare(frozen, await repository.attribute_keys(self.session, workspace_id), subjects)
        except ContentError as exc:
            raise ApiError(
                422, "invalid_content", str(exc), errors=[FieldError(field=exc.field, message=exc.message)]
            ) from None
        # Every message will name the certificate of the approved content (docs/trust.md).
        certificate = await certificate_for(self.session, lifecycle.approval_of(campaign), self.ca)
        if checked is not None:
            if checked.content_hash != content.content_hash:  # sent to review again meanwhile
                raise ApiError(409, "content_changed", "the content changed while it was checked: send again")
            await gate.record(self.session, checked, workspace_id, campaign.id, certificate.log_index)
        send = Send(
            workspace_id=workspace_id,
            certificate_serial=certificate.serial,
            campaign_id=campaign.id,
            status=SendStatus.SCHEDULED,
            list_id=data.list_id,
            segment_id=data.segment_id,
            content=frozen,
            content_hash=campaign.approved_hash,
            links=list(prepared.links),
            send_at=send_at,
            created_by=principal.user_id,
            ab_test=None
            if data.ab_test is None
            else ab_testing.new_state(data.ab_test, subjects, self.settings.delivery.ab_test_confidence),
        )
        self.session.add(send)
        await lifecycle.act(self.session, self.events, principal, campaign, move)
        return send

    async def record_check(self, principal: Principal, campaign_id: uuid.UUID, checked: GateResult) -> int:
        """A check that blocked the send, on record beside the approval; returns its log index."""
        campaign = await find(self.session, principal, campaign_id, for_update=True)
        approval = None
        if campaign.approved_hash is not None:
            approval = (
                await certificate_for(self.session, lifecycle.approval_of(campaign), self.ca)
            ).log_index
        return await gate.record(self.session, checked, principal.workspace_id, campaign.id, approval)

    @staticmethod
    def _ab_subjects(data: wire.SendCreate, content: CampaignContent) -> list[str]:
        if data.ab_test is None:
            return []
        subjects = subject_lines(content.subject, content.subject_variants)
        if len(subjects) < 2:
            message = (
                "an A/B test needs subject variants in the approved content: add them under the"
                " subject (one per line), then send the campaign to review again"
            )
            raise ApiError(
                422, "no_subject_variants", message, errors=[FieldError(field="ab_test", message=message)]
            )
        return subjects

    async def preview(
        self, principal: Principal, content: CampaignContent, contact_id: uuid.UUID
    ) -> wire.Preview:
        audiences = AudienceService(self.session, principal.workspace_id)
        contact = await audiences.contact(contact_id)
        frozen = {k: getattr(content, k) for k in ("sender", "subject", "preheader", "body")}
        known = await repository.attribute_keys(self.session, principal.workspace_id)
        person = Recipient(contact.email, contact.name, contact.attributes or {})
        base = self.settings.public_url.rstrip("/") + "/preview"
        # Off the event loop: the rendering's own limits end it; this bounds the wait for the
        # parts they do not cover (Markdown, compiling), whose thread is then left to finish.
        try:
            with anyio.fail_after(PREVIEW_LIMITS.seconds + _PREVIEW_GRACE_SECONDS):
                rendered = await anyio.to_thread.run_sync(
                    functools.partial(personalise.preview, frozen, known, person, base),
                    abandon_on_cancel=True,
                )
        except TimeoutError:
            message = f"the preview takes longer than {PREVIEW_LIMITS.seconds:g} s to render"
            raise ApiError(
                422, "template_limit", message, errors=[FieldError(field="body", message=message)]
            ) from None
        except ContentLimitError as exc:
            raise ApiError(
                422, "template_limit", str(exc), errors=[FieldError(field=exc.field, message=exc.message)]
            ) from None
        except ContentError as exc:
            raise ApiError(
                422, "invalid_content", str(exc), errors=[FieldError(field=exc.field, message=exc.message)]
            ) from None
        return wire.Preview(subject=rendered.subject, text=rendered.text, html=rendered.html)

    async def get(self, principal: Principal, send_id: uuid.UUID, *, for_update: bool = False) -> Send:
        query = select(Send).where(Send.id == send_id, Send.workspace_id == principal.workspace_id)
        send = await self.session.scalar(query.with_for_update() if for_update else query)
        if send is None:
            raise not_found("send")
        return send

    async def of_campaign(self, principal: Principal, campaign_id: uuid.UUID) -> list[Send]:
        await find(self.session, principal, campaign_id)
        rows = await self.session.scalars(
            select(Send).where(Send.campaign_id == campaign_id).order_by(Send.created_at.desc())
        )
        return list(rows)

    async def read(self, principal: Principal, send_id: uuid.UUID) -> wire.Send:
        return await self.with_progress(await self.get(principal, send_id))

    async def listing(self, principal: Principal, campaign_id: uuid.UUID) -> list[wire.Send]:
        """The campaign's sends, newest first, with their progress."""
        return [await self.with_progress(send) for send in await self.of_campaign(principal, campaign_id)]

    async def with_progress(self, send: Send) -> wire.Send:
        """The send as the API answers it: its messages by state, engagement, its A/B test."""
        states, in_doubt = await queue.states(self.session, send.id)
        # Engagement only: "sent" events (one per message) are counted by the outbox's states,
        # and reading them would make every progress poll of a big send scan them all.
        events = dict(
            (
                await self.session.execute(
                    select(MessageEvent.kind, func.count(func.distinct(MessageEvent.contact_id)))
                    .where(MessageEvent.send_id == send.id, MessageEvent.kind.in_(_ENGAGEMENT))
                    .group_by(MessageEvent.kind)
                )
            ).all()
        )
        counts = wire.SendCounts(
            **{state.value: states.get(state, 0) for state in MessageState},
            in_doubt=in_doubt,
            opened=int(events.get(EventKind.OPENED, 0)),
            clicked=int(events.get(EventKind.CLICKED, 0)),
            bounced=int(events.get(EventKind.BOUNCED, 0)),
            complained=int(events.get(EventKind.COMPLAINED, 0)),
            unsubscribed=int(events.get(EventKind.UNSUBSCRIBED, 0)),
        )
        return to_wire(send, counts=counts, ab_test=await ab_testing.progress(self.session, send))

    async def pause(self, principal: Principal, send_id: uuid.UUID) -> Send:
        send = await self.get(principal, send_id, for_update=True)
        if send.status not in _PAUSABLE:
            raise ApiError(409, "invalid_transition", f"a {send.status} send cannot be paused")
        send.status = SendStatus.PAUSED
        send.alert = "paused by a person"
        await self.session.flush()
        return send

    async def resume(self, principal: Principal, send_id: uuid.UUID) -> Send:
        send = await self.get(principal, send_id, for_update=True)
        if send.status != SendStatus.PAUSED:
            raise ApiError(409, "invalid_transition", f"a {send.status} send cannot be resumed")
        # Not yet started (still queueing recipients): back to scheduled, which picks up where it was.
        send.status = SendStatus.SENDING if send.started_at is not None else SendStatus.SCHEDULED
        send.alert = ""
        await self.session.flush()
        return send

    async def cancel(self, principal: Principal, send_id: uuid.UUID) -> Send:
        send = await self.get(principal, send_id, for_update=True)
        if send.status not in _CANCELLABLE:
            raise ApiError(409, "invalid_transition", f"a {send.status} send cannot be cancelled")
        send.status, send.finished_at = SendStatus.CANCELLED, utcnow()
        await queue.cancel_waiting(self.session, [send.id])
        campaign = await self.session.get(Campaign, send.campaign_id)
        if campaign is not None:
            # Nothing went out yet: the campaign is approved again (unscheduled); else cancelled.
            started = send.started_at is not None
            ended = SystemAction.SENDING_CANCELLED if started else SystemAction.SEND_WITHDRAWN
            await lifecycle.system(self.session, self.events, campaign, ended)
        await self.session.flush()
        return send

    async def choose_winner(
        self, principal: Principal, send_id: uuid.UUID, choice: wire.WinnerChoice
    ) -> Send:
        """End the send's A/B test now: the chosen subject, or the best so far, goes to the rest."""
        send = await self.get(principal, send_id, for_update=True)
        state = ab_testing.AbState.of(send)
        if state is None:
            raise ApiError(409, "not_an_ab_test", "this send has no A/B test")
        if state.winner is not None:
            raise ApiError(409, "already_decided", f"the winner was picked at {state.decided_at}")
        if send.status not in (SendStatus.SENDING, SendStatus.PAUSED) or state.decide_at is None:
            raise ApiError(409, "not_started", f"the test has not started: the send is {send.status}")
        if choice.variant is not None and choice.variant >= len(state.subjects):
            message = f"there are {len(state.subjects)} subjects: choose 0 to {len(state.subjects) - 1}"
            raise ApiError(
                422, "no_such_variant", message, errors=[FieldError(field="variant", message=message)]
            )
        await ab_testing.decide(self.session, send.id, utcnow(), choice=choice.variant)
        await self.session.refresh(send)
        return send

    def _send_at(self, send_at: datetime | None, now: datetime) -> datetime:
        """None: now. Otherwise a zoned time in the future (a past one is likely a mistake)."""
        if send_at is None:
            return now
        return lifecycle.future_time(send_at)

    async def _check_audience(self, workspace_id: uuid.UUID, data: wire.SendCreate, now: datetime) -> None:
        chosen = [name for name in ("list_id", "segment_id") if getattr(data, name) is not None]
        if data.everyone:
            chosen.append("everyone")
        if len(chosen) != 1:
            message = "choose exactly one audience: list_id, segment_id, or everyone: true"
            raise ApiError(
                422, "invalid_audience", message, errors=[FieldError(field="list_id", message=message)]
            )
        audiences = AudienceService(self.session, workspace_id)
        if data.list_id is not None:
            await audiences.contact_list(data.list_id)
        if data.segment_id is not None:
            await segment_where(self.session, workspace_id, data.segment_id, now)

    async def _has_relay(self, workspace_id: uuid.UUID) -> bool:
        if self.settings.delivery.smtp_relays:
            return True
        return bool(await self.session.scalar(select(func.count()).where(Relay.workspace_id == workspace_id)))
