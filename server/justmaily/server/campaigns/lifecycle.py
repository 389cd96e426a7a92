"""The one writer of a campaign's status, review and approval.

Every move goes through the state machine in `shared/campaigns.py`: a person's actions (`act`,
each needing its permission) and the system's (`system`: sending started or finished, a send
withdrawn or cancelled, the content changed under review). An approval covers exactly the
content hash submitted for review; whatever voids it (an edit, a move back to draft) goes
through `_void`.

What other domains do about it they do as handlers of the events announced here, registered by
the composition root: trust logs and certifies an approval and revokes a voided one, delivery
cancels the sends a voided approval leaves without content, collaboration shows the status in
open editors. In-transaction handlers commit with the move or not at all.

Call with the campaign locked (`CampaignService.get(..., for_update=True)`): approvals lock the
campaign, then the log, and so must everything else, or two could deadlock on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns.models import Campaign
from justmaily.server.db.base import utcnow
from justmaily.server.events import (
    ApprovalGranted,
    ApprovalVoided,
    ApprovedVia,
    CampaignStatusChanged,
    Events,
)
from justmaily.server.http.problems import ApiError
from justmaily.server.identity.principal import Principal
from justmaily.shared.campaigns import (
    SYSTEM_TRANSITIONS,
    TRANSITIONS,
    CampaignAction,
    CampaignStatus,
    SystemAction,
    TransitionRequest,
)
from justmaily.shared.problems import FieldError


async def act(
    session: AsyncSession,
    events: Events,
    principal: Principal,
    campaign: Campaign,
    request: TransitionRequest,
    expected_revision: int | None = None,
    content_hash: str | None = None,
) -> None:
    """A person's move. `content_hash` is the document's hash now, needed to submit and to approve."""
    check_transition(principal, campaign, request, expected_revision)
    rule = TRANSITIONS[request.action]
    if request.action == CampaignAction.APPROVE and (
        content_hash is None or content_hash != campaign.review_hash
    ):
        raise ApiError(
            409, "content_changed", "the content changed since it was sent to review: send it to review again"
        )
    campaign.scheduled_at = future_time(request.send_at) if rule.target == CampaignStatus.SCHEDULED else None
    if request.action == CampaignAction.SUBMIT:
        campaign.review_hash = content_hash
        campaign.sent_back_reason = campaign.sent_back_by = campaign.sent_back_at = None
    elif request.action == CampaignAction.SEND_BACK:
        campaign.sent_back_reason = request.reason.strip() or None
        campaign.sent_back_by, campaign.sent_back_at = principal.user_id, utcnow()
    elif request.action == CampaignAction.APPROVE:
        campaign.approved_by, campaign.approved_at = principal.user_id, utcnow()
        campaign.approved_hash = campaign.review_hash
    if rule.target == CampaignStatus.DRAFT:
        await _void(session, events, campaign, f"the campaign went back to draft ({request.action})")
        campaign.review_hash = None
    await _move(session, events, campaign, rule.target, always_touch=True)
    if request.action == CampaignAction.APPROVE:
        via = None if principal.kind == "user" else ApprovedVia(principal.kind, principal.id)
        await events.emit(session, approval_of(campaign, via))


async def system(
    session: AsyncSession, events: Events, campaign: Campaign, action: SystemAction, why: str = ""
) -> bool:
    """The system's move, if the campaign's status allows it; returns whether it moved."""
    rule = SYSTEM_TRANSITIONS[action]
    if campaign.status not in rule.sources:
        return False
    if rule.target == CampaignStatus.DRAFT:
        await _void(session, events, campaign, why or str(action))
    elif rule.target not in (CampaignStatus.SENDING, CampaignStatus.SENT):
        campaign.scheduled_at = None  # withdrawn or cancelled: no longer due; while sending, on record
    await _move(session, events, campaign, rule.target, always_touch=False)
    return True


def approval_of(campaign: Campaign, via: ApprovedVia | None = None) -> ApprovalGranted:
    """The campaign's standing approval, as trust records and certifies it."""
    assert campaign.approved_hash is not None
    assert campaign.approved_by is not None
    assert campaign.approved_at is not None
    return ApprovalGranted(
        workspace_id=campaign.workspace_id,
        campaign_id=campaign.id,
        revision=campaign.revision,
        content_hash=campaign.approved_hash,
        approved_by=campaign.approved_by,
        approved_at=campaign.approved_at,
        via=via,
    )


def seed(campaign: Campaign, status: CampaignStatus, content_hash: str, approved_by: uuid.UUID) -> None:
    """A new campaign created as if it had been sent to review (and approved) as it is: the demo's
    sample data. Its approval is logged and certified when it is first sent (`certificate_for`)."""
    campaign.status = status
    if status in (CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED):
        campaign.review_hash = content_hash
    if status == CampaignStatus.APPROVED:
        campaign.approved_hash = content_hash
        campaign.approved_by, campaign.approved_at = approved_by, campaign.created_at


def check_transition(
    principal: Principal, campaign: Campaign, request: TransitionRequest, expected_revision: int | None
) -> None:
    """Refuse a transition the principal may not make, or one the campaign's state forbids."""
    rule = TRANSITIONS[request.action]
    if rule.permission not in principal.permissions:
        raise ApiError(403, "forbidden", f"{request.action} needs the {rule.permission} permission")
    check_revision(campaign, expected_revision)
    if campaign.archived_at is not None:
        raise ApiError(409, "archived", "unarchive the campaign first")
    if campaign.status not in rule.sources:
        allowed = ", ".join(sorted(rule.sources))
        raise ApiError(
            409,
            "invalid_transition",
            f"cannot {request.action} a campaign that is {campaign.status} (only from {allowed})",
        )


def check_revision(campaign: Campaign, expected: int | None) -> None:
    if expected is not None and expected != campaign.revision:
        raise ApiError(
            412,
            "stale_revision",
            f"campaign changed since revision {expected} (now {campaign.revision}); reload it",
        )


def future_time(send_at: datetime | None) -> datetime:
    if send_at is None or send_at.tzinfo is None:
        message = "schedule needs send_at with a time zone, e.g. 2030-05-01T09:00:00+02:00"
        raise ApiError(422, "invalid_send_at", message, errors=[FieldError(field="send_at", message=message)])
    if send_at <= utcnow():
        raise ApiError(
            422,
            "invalid_send_at",
            "send_at must be in the future",
            errors=[FieldError(field="send_at", message="must be in the future")],
        )
    return send_at


async def _void(session: AsyncSession, events: Events, campaign: Campaign, why: str) -> None:
    """The approval no longer stands: its certificate is revoked and any send that has not started
    is cancelled (by the handlers), so what goes out is only ever what is approved now."""
    voided = ApprovalVoided(
        workspace_id=campaign.workspace_id,
        campaign_id=campaign.id,
        why=why,
        was_approved=campaign.approved_hash is not None,
    )
    campaign.approved_by = campaign.approved_at = campaign.scheduled_at = None
    campaign.approved_hash = None
    await events.emit(session, voided)


async def _move(
    session: AsyncSession, events: Events, campaign: Campaign, status: CampaignStatus, *, always_touch: bool
) -> None:
    """`always_touch`: a person's move is a change even where the status stays (a new revision)."""
    moved = campaign.status != status
    campaign.status = status
    if moved or always_touch:
        campaign.touch()
    await session.flush()
    if moved:
        changed = CampaignStatusChanged(
            workspace_id=campaign.workspace_id, campaign_id=campaign.id, status=status
        )
        await events.emit(session, changed)
