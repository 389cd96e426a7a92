"""Delivery on the wire: what happens to each message, and the sending controls."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec


class EventKind(enum.StrEnum):
    """Something that happened to one recipient's message (recorded in the events table)."""

    SENT = "sent"  # the relay accepted it
    DELIVERED = "delivered"  # the receiving server accepted it (a provider told us)
    OPENED = "opened"
    CLICKED = "clicked"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    FAILED = "failed"  # we gave up: permanent rejection, or retries exhausted


class EventSource(enum.StrEnum):
    """Where an event's record came from (its provenance)."""

    SENDER = "sender"  # our sending workers: sent, failed
    TRACKING = "tracking"  # our links in the message: the open pixel, clicks, the unsubscribe page
    WEBHOOK = "webhook"  # a provider's report (SES, SendGrid, ...)
    IMPORT = "import"  # history brought from another platform's export


class SendStatus(enum.StrEnum):
    SCHEDULED = "scheduled"  # waiting for send_at
    SENDING = "sending"
    PAUSED = "paused"  # by a person, or because no relay is left (see `alert`)
    DONE = "done"
    CANCELLED = "cancelled"


class MessageState(enum.StrEnum):
    QUEUED = "queued"  # waiting for its attempt time
    SENDING = "sending"  # handed to a relay: the only state in which a crash leaves doubt
    SENT = "sent"  # the relay accepted it
    FAILED = "failed"  # permanently rejected, or retries exhausted
    SUPPRESSED = "suppressed"  # the address was suppressed or unsubscribed before its turn
    CANCELLED = "cancelled"
    HELD = "held"  # the rest of an A/B test's audience: queued once the winner is known


class AbMetric(enum.StrEnum):
    """What picks an A/B test's winner: the share of its messages opened (a click counts as an
    open: images may be blocked), or clicked."""

    OPENS = "opens"
    CLICKS = "clicks"


Domain = Annotated[
    str, msgspec.Meta(min_length=3, max_length=253, pattern=r"^[A-Za-z0-9.-]+$", examples=["acme.example"])
]


class SendingDomainCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    domain: Domain


class DnsRecord(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    type: str
    value: str


class SendingDomain(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    domain: str
    # Publish these TXT records; messages carry an RSA and an Ed25519 signature (RFC 8463).
    dns_records: list[DnsRecord]
    created_at: datetime


class RelayCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["primary"])]
    # smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps://… (TLS).
    url: Annotated[str, msgspec.Meta(min_length=8, max_length=500, examples=["smtp://mx.relay.example:587"])]
    priority: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 100
    max_per_second: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None


class Relay(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID | None  # None: from JUSTMAILY_SMTP_RELAYS (read-only)
    name: str
    url: str  # without the password
    username: str
    priority: int
    max_per_second: int | None


class WebhookSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sendgrid_public_key: Annotated[str, msgspec.Meta(max_length=1000)] = ""
    ses_topic_arns: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=300)]], msgspec.Meta(max_length=50)
    ] = msgspec.field(default_factory=list)
    # Mailgun's webhook signing key, a secret: never answered back. On a PUT, None keeps the
    # stored key, "" removes it (and turns Mailgun's hook off), anything else replaces it.
    mailgun_signing_key: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    mailgun_key_set: bool = False  # answered: whether a key is stored; ignored on a PUT
    # The "user:password" Postmark's webhook URL carries (Basic auth), a secret: as the key above.
    postmark_credentials: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    postmark_credentials_set: bool = False


class AbTestCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Test the approved subject lines (the subject and its variants) on a random sample, split
    evenly; after the window the best one goes to the rest of the audience."""

    sample_percent: Annotated[int, msgspec.Meta(ge=2, le=90, examples=[20])] = 20
    metric: AbMetric = AbMetric.OPENS
    # From the moment the sample starts sending until the winner is picked (1 s to 7 days).
    window_seconds: Annotated[int, msgspec.Meta(ge=1, le=7 * 86_400, examples=[14_400])] = 14_400


class SendCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Send the approved campaign to a list or a segment (or every subscribed contact)."""

    list_id: UUID | None = None
    segment_id: UUID | None = None
    everyone: bool = False  # required to send to every subscribed contact: no accidents
    send_at: datetime | None = None  # time-zone aware; None: now
    ab_test: AbTestCreate | None = None  # needs subject variants in the approved content


class WinnerChoice(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """End an A/B test now: with `variant`, that subject wins; without, the metric decides."""

    variant: Annotated[int, msgspec.Meta(ge=0, le=10)] | None = None


class SendCounts(msgspec.Struct, frozen=True, kw_only=True):
    queued: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    cancelled: int = 0
    held: int = 0  # waiting for an A/B test's winner
    in_doubt: int = 0  # sent again after a crash: may have arrived twice (docs/delivery.md)
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0


class AbVariant(msgspec.Struct, frozen=True, kw_only=True):
    """One subject line of an A/B test and how its share of the sample did."""

    subject: str
    recipients: int  # in the sample
    sent: int
    opened: int  # messages opened or clicked
    clicked: int
    rate: float  # opened (or clicked, by the metric) / sent
    # The posterior probability (Beta, uniform prior) that this subject's rate is the best.
    probability_best: float = 0.0


class AbTest(msgspec.Struct, frozen=True, kw_only=True):
    metric: AbMetric
    sample_percent: int
    window_seconds: int
    variants: list[AbVariant]
    sample_size: int | None = None  # known once the audience is queued
    decide_at: datetime | None = None  # when the winner is picked
    decided_at: datetime | None = None
    winner: int | None = None  # index into `variants`
    decided_by: str = ""  # "opens", "clicks" or "a person"
    confidence: float = 0.95  # the probability of being best a subject needs to win by the metric
    # Decided by the metric: True if the winner reached `confidence`, False if none did and the
    # original subject was kept; None before a decision or when a person decided.
    conclusive: bool | None = None


class Send(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    campaign_id: UUID
    status: SendStatus
    list_id: UUID | None
    segment_id: UUID | None
    send_at: datetime
    recipients: int
    counts: SendCounts
    content_hash: str
    alert: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    ab_test: AbTest | None = None


class PreviewRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    contact_id: UUID


class Preview(msgspec.Struct, frozen=True, kw_only=True):
    subject: str
    text: str
    html: str
