"""The editor's rules for editing a campaign under review (plain Python, no widgets)."""

from __future__ import annotations

from justmaily.desktop.engine.review import EditConsent, edit_warning
from justmaily.shared.campaigns import CampaignStatus


def test_editing_a_campaign_under_review_needs_consent_once_per_status() -> None:
    assert edit_warning(CampaignStatus.DRAFT) is None
    assert "voids the approval" in (edit_warning(CampaignStatus.APPROVED) or "")
    assert "sent to review again" in (edit_warning(CampaignStatus.IN_REVIEW) or "")
    assert "cancels the scheduled send" in (edit_warning(CampaignStatus.SCHEDULED) or "")

    consent = EditConsent()
    assert consent.question(CampaignStatus.DRAFT) is None
    assert consent.question(CampaignStatus.APPROVED) is not None
    assert consent.question(CampaignStatus.APPROVED) is not None  # asking is not agreeing
    consent.grant(CampaignStatus.APPROVED)
    assert consent.question(CampaignStatus.APPROVED) is None
    # The edit returned it to draft; later it is in review again: ask again.
    assert consent.question(CampaignStatus.DRAFT) is None
    assert consent.question(CampaignStatus.IN_REVIEW) is not None
    consent.grant(CampaignStatus.IN_REVIEW)
    assert consent.question(CampaignStatus.APPROVED) is not None
