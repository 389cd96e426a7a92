"""What editing means for a campaign's review, before anyone edits: plain rules the editor asks.

An edit to a campaign in review, approved or scheduled returns it to draft on the server (an
approval covers exactly the content that was approved). The editor asks once before the first
edit in such a status; the consent holds until the status changes.
"""

from __future__ import annotations

from justmaily.shared.campaigns import UNDER_REVIEW, CampaignStatus

_CONSEQUENCE = {
    CampaignStatus.IN_REVIEW: "returns it to draft: it must be sent to review again",
    CampaignStatus.APPROVED: (
        "returns it to draft and voids the approval: it must be reviewed and approved again"
    ),
    CampaignStatus.SCHEDULED: "returns it to draft, voids the approval and cancels the scheduled send",
}


def edit_warning(status: CampaignStatus) -> str | None:
    """What an edit would do to a campaign in `status`, or None when nothing happens."""
    if status not in UNDER_REVIEW:
        return None
    shown = status.value.replace("_", " ")
    return f"This campaign is {shown}. Changing its content {_CONSEQUENCE[status]}. Edit it anyway?"


class EditConsent:
    """Whether the user agreed to edit in the campaign's current status."""

    def __init__(self) -> None:
        self._granted_for: CampaignStatus | None = None

    def question(self, status: CampaignStatus) -> str | None:
        """The question to ask before editing now; None when editing needs no consent."""
        if self._granted_for is not None and self._granted_for != status:
            self._granted_for = None  # a new status (e.g. sent to review again): ask again
        if self._granted_for == status:
            return None
        return edit_warning(status)

    def grant(self, status: CampaignStatus) -> None:
        self._granted_for = status
