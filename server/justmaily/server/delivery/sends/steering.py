"""Creating and steering sends (pause, resume, cancel, an A/B test's winner), and previews.

A change commits in a transaction of its own and then wakes the sender: after the commit, so
the sender sees it. A preview reads the campaign's live document first (it waits on the room)
and holds no transaction while it does. So this service owns its transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns import lifecycle
from justmaily.server.campaigns.ports import CampaignDocument
from justmaily.server.campaigns.service import find
from justmaily.server.collaboration.frozen import last_reviewed
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.delivery.models import Send
from justmaily.server.delivery.sender import Sender, wake
from justmaily.server.delivery.sends import gate
from justmaily.server.delivery.sends.gate import ContentGate, GateResult
from justmaily.server.delivery.sends.service import SendService
from justmaily.server.events import Events
from justmaily.server.identity.principal import Principal
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.settings import Settings
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.shared import delivery as wire
from justmaily.shared.campaigns import CampaignAction, TransitionRequest


class SendSteering:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        secrets: SecretBox,
        ca: CertificateAuthority,
        events: Events,
        sender: Sender | None,
        document: CampaignDocument,
        content_gate: ContentGate | None = None,
    ) -> None:
        self.database, self.settings, self.secrets, self.ca = database, settings, secrets, ca
        self.events, self.sender, self.document = events, sender, document
        self.content_gate = content_gate

    def _sends(self, session: AsyncSession) -> SendService:
        return SendService(session, self.settings, self.secrets, self.ca, self.events)

    async def create(self, principal: Principal, campaign_id: uuid.UUID, data: wire.SendCreate) -> wire.Send:
        """The approved content passes the content gate first (outside any transaction: agents
        take their time); a blocked send is refused, its check on record all the same."""
        checked = await self._check(principal, campaign_id, data)
        if checked is not None and checked.blocked:
            async with transaction(self.database) as session:
                index = await self._sends(session).record_check(principal, campaign_id, checked)
            raise gate.refusal(checked, index)
        return await self._change(lambda sends: sends.create(principal, campaign_id, data, checked))

    async def _check(
        self, principal: Principal, campaign_id: uuid.UUID, data: wire.SendCreate
    ) -> GateResult | None:
        if self.content_gate is None:
            return None
        async with transaction(self.database, read_only=True) as session:
            campaign = await find(session, principal, campaign_id)
            # Who may not send, or what may not be sent, is refused before any agent is asked.
            lifecycle.check_transition(
                principal, campaign, TransitionRequest(action=CampaignAction.SEND), None
            )
            content = await last_reviewed(session, campaign.id)
            approved = campaign.approved_hash is not None
        if content is None or not approved:
            return None  # nothing approved to check: `create` refuses it
        texts = {
            "sender": content.sender,
            "subject": content.subject,
            "preheader": content.preheader,
            "body": content.body,
        }
        return await self.content_gate.check(principal.workspace_id, texts, content.content_hash)

    async def pause(self, principal: Principal, send_id: uuid.UUID) -> wire.Send:
        return await self._change(lambda sends: sends.pause(principal, send_id))

    async def resume(self, principal: Principal, send_id: uuid.UUID) -> wire.Send:
        return await self._change(lambda sends: sends.resume(principal, send_id))

    async def choose_winner(
        self, principal: Principal, send_id: uuid.UUID, choice: wire.WinnerChoice
    ) -> wire.Send:
        return await self._change(lambda sends: sends.choose_winner(principal, send_id, choice))

    async def cancel(self, principal: Principal, send_id: uuid.UUID) -> wire.Send:
        return await self._change(lambda sends: sends.cancel(principal, send_id))

    async def preview(
        self, principal: Principal, campaign_id: uuid.UUID, contact_id: uuid.UUID
    ) -> wire.Preview:
        """The campaign as one contact would receive it now (the live document, rendered)."""
        content = await self.document.read(principal, campaign_id)
        async with transaction(self.database, read_only=True) as session:
            return await self._sends(session).preview(principal, content, contact_id)

    async def _change(self, change: Callable[[SendService], Awaitable[Send]]) -> wire.Send:
        """Apply `change` to a send in a transaction of its own, then wake the sender."""
        async with transaction(self.database) as session:
            sends = self._sends(session)
            answer = await sends.with_progress(await change(sends))
        wake(self.sender)
        return answer
