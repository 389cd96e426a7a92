"""Keep the campaign row and its document in step: the texts queries need, approval, and the
review state the document shows.

Called by a room after its edits are stored, when due (upkeep.py: at once for what this
depends on, else at most every few seconds). An approval covers exactly the content hash that was
submitted for review: any change to the content (not to comments) sends the campaign back to
draft. The document's `campaign` map then says so, so every open editor sees it at once.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from pycrdt import Doc

from justmaily.server.campaigns import lifecycle
from justmaily.server.campaigns.models import Campaign
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.events import Events
from justmaily.shared.campaigns import CONTENT_FIELDS, UNDER_REVIEW, SystemAction
from justmaily.shared.collaboration import ReviewState
from justmaily.shared.document import content_hash, texts, write_review_state

log = structlog.get_logger(__name__)
_UNDER_REVIEW = UNDER_REVIEW
STATE_ORIGIN = "server-review-state"
_ROW_LIMITS = {"sender": 320}  # the row mirrors; the document may hold more while someone types


def _out_of_step(campaign: Campaign, values: dict[str, str], digest: str) -> bool:
    mirrored = any(
        getattr(campaign, name) != values[name][: _ROW_LIMITS.get(name)] for name in CONTENT_FIELDS
    )
    return mirrored or (campaign.status in _UNDER_REVIEW and digest != campaign.review_hash)


def state_of(campaign: Campaign) -> ReviewState:
    return ReviewState(status=campaign.status.value, sent_back_reason=campaign.sent_back_reason or "")


def show_state(doc: Doc[Any], campaign: Campaign) -> bytes | None:
    """Write the row's review state into the document; the update to store, None if unchanged.
    Call under the room's `state_lock`, after reading the row."""
    return write_review_state(doc, state_of(campaign), STATE_ORIGIN)


async def materialise_campaign(
    database: Database, events: Events, campaign_id: uuid.UUID, doc: Doc[Any]
) -> bytes | None:
    """Returns an update this made to the document (its review state), to store."""
    values = texts(doc)
    digest = content_hash(doc)
    # Most batches change nothing the row holds (typing in the body of a draft): a read, which in
    # WAL mode waits for no writer, avoids taking the write turn for nothing.
    async with database.session(read_only=True) as session:
        current = await session.get(Campaign, campaign_id)
        if current is None:
            return None
        if not _out_of_step(current, values, digest):
            return show_state(doc, current)
    async with transaction(database) as session:
        campaign = await session.get(Campaign, campaign_id, with_for_update=True)
        if campaign is None:
            return None
        mirrored = False
        for name in CONTENT_FIELDS:
            value = values[name][: _ROW_LIMITS.get(name)]
            if getattr(campaign, name) != value:
                setattr(campaign, name, value)
                mirrored = True
        moved = False
        if campaign.status in _UNDER_REVIEW and digest != campaign.review_hash:
            log.info("approval_voided", campaign=str(campaign_id), status=str(campaign.status))
            why = "the content changed after it was approved"
            moved = await lifecycle.system(session, events, campaign, SystemAction.CONTENT_CHANGED, why)
        if mirrored and not moved:
            campaign.touch()
        state = state_of(campaign)
    return write_review_state(doc, state, STATE_ORIGIN)
