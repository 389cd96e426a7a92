"""Campaigns: fields, statuses and the review/sending state machine.

The transition table lives here, beside the wire types, because both sides need it: the server
enforces it and the desktop shows only the actions a role may take.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from justmaily.shared.roles import Permission


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"


class CampaignAction(enum.StrEnum):
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    APPROVE = "approve"
    SEND_BACK = "send_back"
    SCHEDULE = "schedule"
    UNSCHEDULE = "unschedule"
    SEND = "send"
    CANCEL = "cancel"
    REOPEN = "reopen"


class SystemAction(enum.StrEnum):
    """The moves the system makes, not a person: no permission, the same state machine."""

    SENDING_STARTED = "sending_started"  # every recipient is queued: the send has begun
    SENDING_FINISHED = "sending_finished"  # nothing is left to send
    SEND_WITHDRAWN = "send_withdrawn"  # its send was cancelled before anything went out
    SENDING_CANCELLED = "sending_cancelled"  # its send was cancelled after it started
    CONTENT_CHANGED = "content_changed"  # an edit under review: the approval no longer stands


class Transition(msgspec.Struct, frozen=True):
    sources: frozenset[CampaignStatus]
    target: CampaignStatus
    permission: Permission


class SystemTransition(msgspec.Struct, frozen=True):
    sources: frozenset[CampaignStatus]
    target: CampaignStatus


S = CampaignStatus
TRANSITIONS: dict[CampaignAction, Transition] = {
    CampaignAction.SUBMIT: Transition(frozenset({S.DRAFT}), S.IN_REVIEW, Permission.CAMPAIGNS_WRITE),
    CampaignAction.WITHDRAW: Transition(frozenset({S.IN_REVIEW}), S.DRAFT, Permission.CAMPAIGNS_WRITE),
    CampaignAction.APPROVE: Transition(frozenset({S.IN_REVIEW}), S.APPROVED, Permission.CAMPAIGNS_REVIEW),
    CampaignAction.SEND_BACK: Transition(frozenset({S.IN_REVIEW}), S.DRAFT, Permission.CAMPAIGNS_REVIEW),
    CampaignAction.SCHEDULE: Transition(frozenset({S.APPROVED}), S.SCHEDULED, Permission.CAMPAIGNS_SEND),
    CampaignAction.UNSCHEDULE: Transition(frozenset({S.SCHEDULED}), S.APPROVED, Permission.CAMPAIGNS_SEND),
    CampaignAction.SEND: Transition(
        frozenset({S.APPROVED, S.SCHEDULED}), S.SENDING, Permission.CAMPAIGNS_SEND
    ),
    CampaignAction.CANCEL: Transition(
        frozenset({S.SCHEDULED, S.SENDING}), S.CANCELLED, Permission.CAMPAIGNS_SEND
    ),
    CampaignAction.REOPEN: Transition(
        frozenset({S.APPROVED, S.CANCELLED}), S.DRAFT, Permission.CAMPAIGNS_WRITE
    ),
}

# Statuses in which a content edit returns the campaign to draft (voiding any approval).
UNDER_REVIEW = frozenset({CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED, CampaignStatus.SCHEDULED})

SYSTEM_TRANSITIONS: dict[SystemAction, SystemTransition] = {
    SystemAction.SENDING_STARTED: SystemTransition(
        frozenset({S.APPROVED, S.SCHEDULED, S.SENDING}), S.SENDING
    ),
    SystemAction.SENDING_FINISHED: SystemTransition(frozenset({S.SENDING}), S.SENT),
    SystemAction.SEND_WITHDRAWN: SystemTransition(frozenset({S.SCHEDULED, S.SENDING}), S.APPROVED),
    SystemAction.SENDING_CANCELLED: SystemTransition(frozenset({S.SCHEDULED, S.SENDING}), S.CANCELLED),
    SystemAction.CONTENT_CHANGED: SystemTransition(UNDER_REVIEW, S.DRAFT),
}
del S

# Content edits are refused once sending has started; before that they void any approval.
EDITABLE_STATUSES = frozenset(
    {CampaignStatus.DRAFT, CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED, CampaignStatus.SCHEDULED}
)

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Spring sale"])]
Subject = Annotated[str, msgspec.Meta(max_length=998, examples=["Spring is here: 20% off"])]
Preheader = Annotated[str, msgspec.Meta(max_length=500, examples=["Three days only"])]
Sender = Annotated[str, msgspec.Meta(max_length=320, examples=["Acme <news@acme.example>"])]


class CampaignCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    subject: Subject = ""
    preheader: Preheader = ""
    sender: Sender = ""


class CampaignUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A partial update: omitted fields are left as they are."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    subject: Subject | msgspec.UnsetType = msgspec.UNSET
    preheader: Preheader | msgspec.UnsetType = msgspec.UNSET
    sender: Sender | msgspec.UnsetType = msgspec.UNSET


# Fields whose change voids an approval: what recipients would see.
CONTENT_FIELDS = ("subject", "preheader", "sender")


class TransitionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    action: CampaignAction
    # Required by `schedule`: when to send (time-zone aware, in the future).
    send_at: datetime | None = None
    # Why, for `send_back`: shown to the editors until the campaign is submitted again.
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class Campaign(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    subject: str
    preheader: str
    sender: str
    status: CampaignStatus
    owner_id: UUID
    revision: int
    created_at: datetime
    updated_at: datetime
    approved_by: UUID | None = None
    approved_at: datetime | None = None
    scheduled_at: datetime | None = None
    archived_at: datetime | None = None
    # The document's content hash when submitted for review, and the hash that was approved.
    review_hash: str | None = None
    approved_hash: str | None = None
    # The reason given by the reviewer who last sent it back, until it is submitted again.
    sent_back_reason: str | None = None
    sent_back_by: UUID | None = None
    sent_back_at: datetime | None = None
