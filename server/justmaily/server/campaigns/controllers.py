"""HTTP handlers of the campaigns domain."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns import examples
from justmaily.server.campaigns.models import Campaign as CampaignRow
from justmaily.server.campaigns.service import CampaignService, to_wire
from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.policy import requires
from justmaily.server.http.problems import ApiError
from justmaily.server.identity.principal import Principal
from justmaily.shared.campaigns import (
    Campaign,
    CampaignCreate,
    CampaignStatus,
    CampaignUpdate,
    TransitionRequest,
)
from justmaily.shared.pagination import Page
from justmaily.shared.roles import Permission

AuthedRequest = Request[Principal, str, State]
_REVISION = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')

IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=False,
        description='The revision you last saw, e.g. "3": the change is refused (412) if it moved on.',
    ),
]


def provide_campaigns(db_session: NamedDependency[AsyncSession]) -> CampaignService:
    return CampaignService(db_session)


def expected_revision(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    match = _REVISION.match(if_match)
    if match is None:
        raise ApiError(400, "invalid_if_match", 'If-Match must be a campaign revision such as "3"')
    return int(match.group(1))


def with_etag(campaign: CampaignRow, status_code: int = 200) -> Response[Campaign]:
    return Response(to_wire(campaign), status_code=status_code, headers={"ETag": f'"{campaign.revision}"'})


class CampaignsController(Controller):
    path = "/api/campaigns"
    tags = ["campaigns"]
    dependencies = {"campaigns": Provide(provide_campaigns, sync_to_thread=False)}

    @get(
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(Page[Campaign], examples.CAMPAIGN_PAGE) | problems(400),
        summary="List campaigns, newest first",
    )
    async def list_campaigns(
        self,
        request: AuthedRequest,
        campaigns: NamedDependency[CampaignService],
        limit: Annotated[int, QueryParameter(ge=1, le=200, description="Page size")] = 50,
        cursor: Annotated[
            str | None, QueryParameter(description="`next_cursor` of the previous page")
        ] = None,
        status: FromQuery[CampaignStatus | None] = None,
        q: Annotated[
            str | None, QueryParameter(max_length=200, description="Search name and subject")
        ] = None,
        archived: Annotated[bool, QueryParameter(description="List archived campaigns instead")] = False,
    ) -> Page[Campaign]:
        return await campaigns.list(
            request.user, limit=limit, cursor=cursor, status=status, search=q, archived=archived
        )

    @post(
        opt=requires(Permission.CAMPAIGNS_WRITE),
        responses=ok(Campaign, examples.CAMPAIGN, 201) | problems(400, 422),
        summary="Create a campaign",
    )
    async def create_campaign(
        self,
        request: AuthedRequest,
        campaigns: NamedDependency[CampaignService],
        data: Annotated[
            CampaignCreate,
            body(
                "spring sale",
                {
                    "name": "Spring sale",
                    "subject": "Spring is here: 20% off",
                    "preheader": "Three days only",
                    "sender": "Acme <news@acme.example>",
                },
            ),
        ],
    ) -> Response[Campaign]:
        return with_etag(await campaigns.create(request.user, data), status_code=201)

    @get(
        "/{campaign_id:uuid}",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(Campaign, examples.CAMPAIGN) | problems(400, 404),
        summary="Read a campaign",
    )
    async def get_campaign(
        self,
        request: AuthedRequest,
        campaigns: NamedDependency[CampaignService],
        campaign_id: FromPath[uuid.UUID],
    ) -> Response[Campaign]:
        return with_etag(await campaigns.get(request.user, campaign_id))

    @patch(
        "/{campaign_id:uuid}",
        opt=requires(Permission.CAMPAIGNS_WRITE),
        responses=ok(Campaign, examples.CAMPAIGN) | problems(400, 404, 409, 412, 422),
        summary="Edit a campaign (voids an approval)",
    )
    async def update_campaign(
        self,
        request: AuthedRequest,
        campaigns: NamedDependency[CampaignService],
        campaign_id: FromPath[uuid.UUID],
        data: Annotated[CampaignUpdate, body("new subject", {"subject": "Last chance: 20% off"})],
        if_match: IfMatch = None,
    ) -> Response[Campaign]:
        """Changing subject, preheader or sender of a campaign in review, approved or scheduled
        returns it to draft: an approval covers exactly the content that was approved."""
        revision = expected_revision(if_match)
        return with_etag(await campaigns.update(request.user, campaign_id, data, revision))

    @post(
        "/{campaign_id:uuid}/transitions",
        opt=requires(Permission.CAMPAIGNS_READ),
        status_code=200,
        responses=ok(Campaign, examples.CAMPAIGN) | problems(400, 404, 409, 412, 422),
        summary="Move a campaign through review and sending",
    )
    async def transition_campaign(
        self,
        request: AuthedRequest,
        campaigns: NamedDependency[CampaignService],
        campaign_id: FromPath[uuid.UUID],
        data: Annotated[TransitionRequest, body("approve", {"action": "approve"})],
        if_match: IfMatch = None,
    ) -> Response[Campaign]:
        """Each action needs its own permission (docs/security.md): submit, withdraw and reopen
        need campaigns:write; approve and send_back campaigns:review; schedule, unschedule, send
        and cancel campaigns:send."""
        revision = expected_revision(if_match)
        return with_etag(await campaigns.transition(request.user, campaign_id, data, revision))

    @post(
        "/{campaign_id:uuid}/archive",
        opt=requires(Permission.CAMPAIGNS_WRITE),
        status_code=200,
        responses=ok(Campaign, examples.CAMPAIGN) | problems(400, 404, 409),
        summary="Archive a campaign",
    )
    async def archive_campaign(
        self,
        request: AuthedRequest,
        campaigns: NamedDependency[CampaignService],
        campaign_id: FromPath[uuid.UUID],
    ) -> Response[Campaign]:
        return with_etag(await campaigns.set_archived(request.user, campaign_id, archived=True))

    @post(
        "/{campaign_id:uuid}/unarchive",
        opt=requires(Permission.CAMPAIGNS_WRITE),
        status_code=200,
        responses=ok(Campaign, examples.CAMPAIGN) | problems(400, 404),
        summary="Bring an archived campaign back",
    )
    async def unarchive_campaign(
        self,
        request: AuthedRequest,
        campaigns: NamedDependency[CampaignService],
        campaign_id: FromPath[uuid.UUID],
    ) -> Response[Campaign]:
        return with_etag(await campaigns.set_archived(request.user, campaign_id, archived=False))
