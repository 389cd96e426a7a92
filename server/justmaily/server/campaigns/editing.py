"""Changes that touch a campaign's live document as well as its row: creating a campaign (its
first content), editing it (subject, preheader and sender are texts of the document), and the
review moves (submitting freezes a version of the document, approving hashes it).

These wait on the campaign's room to store the document's side, and the room's writer needs
the write turn (SQLite has one): so this service owns its transactions and holds none while it
waits. An approval is logged and certified in the transaction of its move (lifecycle.py).
"""

from __future__ import annotations

import uuid

from justmaily.server.campaigns.lifecycle import check_revision, check_transition
from justmaily.server.campaigns.models import Campaign
from justmaily.server.campaigns.ports import CampaignDocument
from justmaily.server.campaigns.service import CampaignService, content_patch, find
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.events import Events
from justmaily.server.http.problems import ApiError
from justmaily.server.identity.principal import Principal
from justmaily.shared.campaigns import CampaignAction, CampaignCreate, CampaignUpdate, TransitionRequest

# Sending needs an audience: these actions happen through the delivery domain's sends.
SENDING_ACTIONS = frozenset(
    {CampaignAction.SEND, CampaignAction.SCHEDULE, CampaignAction.UNSCHEDULE, CampaignAction.CANCEL}
)


class EditingService:
    def __init__(self, database: Database, events: Events, document: CampaignDocument) -> None:
        self.database, self.events, self.document = database, events, document

    async def create(self, principal: Principal, data: CampaignCreate) -> Campaign:
        async with transaction(self.database) as session:
            campaign = await CampaignService(session, self.events).create(principal, data)
            await self.document.write_first(session, campaign)
            return campaign

    async def update(
        self, principal: Principal, campaign_id: uuid.UUID, data: CampaignUpdate, revision: int | None
    ) -> Campaign:
        """Content changes go to the document, merged with live editors (and void an approval);
        the name is the row's."""
        patch = content_patch(data)
        check_revision(await self._fresh(principal, campaign_id), revision)
        if patch is not None:
            await self.document.change(principal, campaign_id, patch)
        async with transaction(self.database) as session:
            return await CampaignService(session, self.events).rename(principal, campaign_id, data.name)

    async def transition(
        self, principal: Principal, campaign_id: uuid.UUID, request: TransitionRequest, revision: int | None
    ) -> Campaign:
        """A person's move through review. Submitting keeps a version of the document; approving
        approves exactly that version's content hash."""
        check_transition(principal, await self._fresh(principal, campaign_id), request, revision)
        if request.action in SENDING_ACTIONS:
            raise ApiError(
                409,
                "use_sends",
                f"{request.action} through the sends API: POST /api/campaigns/{campaign_id}/sends chooses "
                "the audience and the time; POST /api/sends/{send_id}/cancel stops it",
            )
        digest = None
        if request.action == CampaignAction.SUBMIT:
            digest = await self.document.freeze_for_review(principal, campaign_id)
        elif request.action == CampaignAction.APPROVE:
            digest = await self.document.current_hash(principal, campaign_id)
        async with transaction(self.database) as session:
            # An approval is logged and certified in its transaction: all three or none; once
            # committed, every open editor sees the new status (and a send-back's reason) live.
            return await CampaignService(session, self.events).transition(
                principal, campaign_id, request, revision, digest
            )

    async def _fresh(self, principal: Principal, campaign_id: uuid.UUID) -> Campaign:
        async with self.database.session(read_only=True) as session:
            return await find(session, principal, campaign_id)
