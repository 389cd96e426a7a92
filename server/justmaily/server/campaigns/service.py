"""Campaign queries and edits; their moves through review and sending are `lifecycle.py`'s."""

from __future__ import annotations

import uuid

import msgspec
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns import lifecycle
from justmaily.server.campaigns.models import Campaign
from justmaily.server.campaigns.views import WIRE_COLUMNS, listed
from justmaily.server.db.base import utcnow
from justmaily.server.events import Events
from justmaily.server.http.pagination import decode_cursor, encode_cursor
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.principal import Principal
from justmaily.shared import campaigns as wire
from justmaily.shared.campaigns import CONTENT_FIELDS, CampaignStatus
from justmaily.shared.collaboration import ContentPatch
from justmaily.shared.pagination import Page
from justmaily.shared.problems import FieldError


def checked_sender(sender: str) -> str:
    """`Name <address>` or a bare address; empty while drafting."""
    if not sender.strip():
        return ""
    address = sender.rsplit("<", 1)[-1].rstrip("> ").strip()
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        message = f"sender address {address!r} is not valid: {exc}"
        raise ApiError(
            422, "invalid_sender", message, errors=[FieldError(field="sender", message=message)]
        ) from exc
    return sender.strip()


async def find(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, *, for_update: bool = False
) -> Campaign:
    """The principal's workspace's campaign; another workspace's is "not found", never
    "forbidden": ids do not leak."""
    query = select(Campaign).where(
        Campaign.id == campaign_id, Campaign.workspace_id == principal.workspace_id
    )
    campaign = await session.scalar(query.with_for_update() if for_update else query)
    if campaign is None:
        raise not_found("campaign")
    return campaign


class CampaignService:
    def __init__(self, session: AsyncSession, events: Events) -> None:
        self.session, self.events = session, events

    async def create(self, principal: Principal, data: wire.CampaignCreate) -> Campaign:
        campaign = Campaign(
            workspace_id=principal.workspace_id,
            name=data.name,
            subject=data.subject,
            preheader=data.preheader,
            sender=checked_sender(data.sender),
            owner_id=principal.user_id,
        )
        self.session.add(campaign)
        await self.session.flush()
        return campaign

    async def get(
        self, principal: Principal, campaign_id: uuid.UUID, *, for_update: bool = False
    ) -> Campaign:
        return await find(self.session, principal, campaign_id, for_update=for_update)

    async def list(
        self,
        principal: Principal,
        *,
        limit: int,
        cursor: str | None,
        status: CampaignStatus | None,
        search: str | None,
        archived: bool,
    ) -> Page[wire.Campaign]:
        # Plain columns straight into the wire's Structs: a page of 50 builds no ORM entities and
        # fills no identity map. ix_campaigns_listing (workspace, created_at, id) gives the order.
        query = select(*WIRE_COLUMNS).where(Campaign.workspace_id == principal.workspace_id)
        query = query.where(Campaign.archived_at.is_not(None) if archived else Campaign.archived_at.is_(None))
        if status is not None:
            query = query.where(Campaign.status == status)
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                or_(Campaign.name.ilike(pattern, escape="\\"), Campaign.subject.ilike(pattern, escape="\\"))
            )
        if cursor:
            after = decode_cursor(cursor)
            query = query.where(tuple_(Campaign.created_at, Campaign.id) < tuple_(after.created_at, after.id))
        query = query.order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(limit + 1)
        items = [listed(row) for row in await self.session.execute(query)]
        last = items[limit - 1] if len(items) > limit else None
        next_cursor = encode_cursor(last.created_at, last.id) if last else None
        return Page(items=items[:limit], next_cursor=next_cursor)

    async def rename(
        self, principal: Principal, campaign_id: uuid.UUID, name: str | msgspec.UnsetType
    ) -> Campaign:
        campaign = await self.get(principal, campaign_id, for_update=True)
        if name is not msgspec.UNSET and name != campaign.name:
            campaign.name = name
            await self._touch(campaign)
        return campaign

    async def transition(
        self,
        principal: Principal,
        campaign_id: uuid.UUID,
        request: wire.TransitionRequest,
        expected_revision: int | None,
        content_hash: str | None = None,
    ) -> Campaign:
        """`content_hash` is the document's hash now, needed to submit and to approve."""
        campaign = await self.get(principal, campaign_id, for_update=True)
        await lifecycle.act(
            self.session, self.events, principal, campaign, request, expected_revision, content_hash
        )
        return campaign

    async def set_archived(self, principal: Principal, campaign_id: uuid.UUID, archived: bool) -> Campaign:
        campaign = await self.get(principal, campaign_id, for_update=True)
        if archived and campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING):
            raise ApiError(409, "busy", f"a {campaign.status} campaign cannot be archived; cancel it first")
        if (campaign.archived_at is not None) != archived:
            campaign.archived_at = utcnow() if archived else None
            await self._touch(campaign)
        return campaign

    async def _touch(self, campaign: Campaign) -> None:
        campaign.touch()
        await self.session.flush()


def content_patch(data: wire.CampaignUpdate) -> ContentPatch | None:
    """The document edit a campaign update asks for (the document holds the content)."""
    fields = {
        name: getattr(data, name) for name in CONTENT_FIELDS if getattr(data, name) is not msgspec.UNSET
    }
    if "sender" in fields:
        fields["sender"] = checked_sender(fields["sender"])
    return ContentPatch(**fields) if fields else None
