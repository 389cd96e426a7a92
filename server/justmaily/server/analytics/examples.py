"""Worked examples for the OpenAPI document of the analytics domain."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from justmaily.shared import analytics as wire

FORECAST = wire.Forecast(
    campaign_id=UUID("0b5c3c52-4d2c-4a51-9d3e-6a0f0f7c2b1e"),
    audience="list:7c6b5a49-3827-4165-9f8e-7d6c5b4a3928",
    recipients=5000,
    opens=wire.RateForecast(estimate=0.274, low=0.236, high=0.314, level=0.9),
    clicks=wire.RateForecast(estimate=0.031, low=0.024, high=0.04, level=0.9),
    unsubscribes=wire.RateForecast(estimate=0.0024, low=0.0012, high=0.0042, level=0.9),
    basis=wire.ForecastBasis(
        source="audience",
        campaigns=14,
        recipients=61_250,
        audience_campaigns=6,
        audience_recipients=29_800,
        calibration_sends=14,
        note="6 finished sends to this audience, shrunk toward the workspace's 14 sends;"
        " intervals recalibrated on 14 finished sends' outcomes",
    ),
)

EVENT_IMPORT = wire.EventImport(
    id=UUID("5e6f7081-92a3-4b4c-9d5e-6f708192a3b4"),
    platform="generic",
    rows=1200,
    added=1180,
    already=0,
    unmatched=20,
    issues=[
        wire.ImportIssue(row=14, message="the address is none of the workspace's contacts: not imported")
    ],
    created_at=datetime(2026, 5, 1, 9, 30, tzinfo=UTC),
)

_COUNTS = wire.RollupCounts(
    recipients=1520,
    delivered=1490,
    opened=402,
    machine_opened=377,
    clicked=61,
    unsubscribed=3,
    bounced=9,
    complained=0,
)
ROLLUP = wire.SendRollup(
    send_id=UUID("2b3c4d5e-6f70-4a81-92a3-b4c5d6e7f809"),
    bucket="hour",
    total=_COUNTS,
    variants=[wire.VariantRollup(variant=None, counts=_COUNTS)],
    buckets=[
        wire.BucketRollup(
            start=datetime(2026, 5, 1, 9, tzinfo=UTC),
            opened=250,
            machine_opened=377,
            clicked=40,
            unsubscribed=2,
            bounced=9,
            complained=0,
        )
    ],
)
