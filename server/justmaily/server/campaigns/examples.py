"""Worked examples for the OpenAPI document of the campaigns domain."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from justmaily.shared.campaigns import Campaign, CampaignStatus
from justmaily.shared.pagination import Page

_AT = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)

CAMPAIGN = Campaign(
    id=UUID("0b5c3c52-4d2c-4a51-9d3e-6a0f0f7c2b1e"),
    name="Spring sale",
    subject="Spring is here: 20% off",
    preheader="Three days only",
    sender="Acme <news@acme.example>",
    status=CampaignStatus.APPROVED,
    owner_id=UUID("6a1d4a0e-8d4b-4f0e-9a57-2b1f3c4d5e6f"),
    revision=4,
    created_at=_AT,
    updated_at=_AT,
    approved_by=UUID("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"),
    approved_at=_AT,
)

CAMPAIGN_PAGE = Page(items=[CAMPAIGN], next_cursor="WyIyMDI2LTA1LTAxVDA5OjMwOjAwWiIsIjBiNWMzYzUyIl0")
