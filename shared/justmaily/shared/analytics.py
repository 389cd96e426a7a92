"""Analytics on the wire: a send's forecast with its calibrated intervals."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec


class Metric(enum.StrEnum):
    """What a forecast predicts: the share of recipients who do it at least once."""

    OPENS = "opens"  # human opens: machine (proxy) opens are left out
    CLICKS = "clicks"
    UNSUBSCRIBES = "unsubscribes"


# Where a forecast's centre comes from: this audience's own past sends, the workspace's sends to
# other audiences, or (no finished send yet) the public industry rates alone.
Basis = Literal["audience", "workspace", "industry"]


class RateForecast(msgspec.Struct, frozen=True, kw_only=True):
    estimate: float  # the expected rate, 0..1
    low: float  # the interval's ends, 0..1
    high: float
    level: float  # the interval's nominal coverage, e.g. 0.9


class ForecastBasis(msgspec.Struct, frozen=True, kw_only=True):
    source: Basis
    campaigns: int  # finished sends of the workspace the forecast learnt from
    recipients: int  # their recipients in all
    audience_campaigns: int  # of which went to this list or segment
    audience_recipients: int
    # Finished sends whose outcome recalibrated the intervals (each scored on its own forecast).
    calibration_sends: int
    note: str  # in words, for people: e.g. "no history: industry rates (Mailchimp 2019)"


class Forecast(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: UUID
    audience: str  # "list:<id>" or "segment:<id>"
    recipients: int  # how many the audience has now: the size the forecast is for
    opens: RateForecast
    clicks: RateForecast
    unsubscribes: RateForecast
    basis: ForecastBasis


class ImportIssue(msgspec.Struct, frozen=True, kw_only=True):
    row: int  # the file's line (1: the header)
    message: str


class EventImport(msgspec.Struct, frozen=True, kw_only=True):
    """The report of one imported file."""

    id: UUID
    platform: str  # "generic" | "mailchimp" | "listmonk"
    rows: int  # rows read, the header aside
    added: int  # events new to the workspace
    already: int  # events it had already (imported before, or twice in the file)
    unmatched: int  # rows whose address is none of the workspace's contacts: not imported
    issues: list[ImportIssue]  # those rows, the first 1,000
    created_at: datetime


class RollupCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Recipients who did each thing at least once (opens by people; machine opens apart)."""

    recipients: int  # messages sent
    delivered: int
    opened: int
    machine_opened: int  # recipients whose only opens were a privacy proxy's
    clicked: int
    unsubscribed: int
    bounced: int
    complained: int


class VariantRollup(msgspec.Struct, frozen=True, kw_only=True):
    variant: int | None  # the A/B subject line's number; None: the subject (no test)
    counts: RollupCounts


class BucketRollup(msgspec.Struct, frozen=True, kw_only=True):
    """Events (not recipients) whose time falls in [start, start + bucket), UTC."""

    start: datetime
    opened: int
    machine_opened: int
    clicked: int
    unsubscribed: int
    bounced: int
    complained: int


class SendRollup(msgspec.Struct, frozen=True, kw_only=True):
    send_id: UUID
    bucket: Literal["hour", "day"]
    total: RollupCounts
    variants: list[VariantRollup]
    buckets: list[BucketRollup]  # only buckets with events, oldest first
