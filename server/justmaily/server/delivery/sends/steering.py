"""Creating and steering sends (pause, resume, cancel, an A/B test's winner), and previews.

A change commits in a transaction of its own and then wakes the sender: after the commit, so
the sender sees it. A preview reads the campaign's live document first (it waits on the room)
and holds no transaction while it does. So this service owns its transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns.ports import CampaignDocument
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.delivery.models import Send
from justmaily.server.delivery.sender import Sender, wake
from justmaily.server.delivery.sends.service import SendService
from justmaily.server.events import Events
from justmaily.server.identity.principal import Principal
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.settings import Settings
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.shared import delivery as wire


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
    ) -> None:
        self.database, self.settings, self.secrets, self.ca = database, settings, secrets, ca
        self.events, self.sender, self.document = events, sender, document

    def _sends(self, session: AsyncSession) -> SendService:
        return SendService(session, self.settings, self.secrets, self.ca, self.events)

    async def create(self, principal: Principal, campaign_id: uuid.UUID, data: wire.SendCreate) -> wire.Send:
        return await self._change(lambda sends: sends.create(principal, campaign_id, data))

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
