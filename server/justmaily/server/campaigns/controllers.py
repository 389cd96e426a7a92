"""HTTP handlers of the campaigns domain."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter

from justmaily.server.campaigns import deps, examples
from justmaily.server.campaigns.editing import EditingService
from justmaily.server.campaigns.models import Campaign as CampaignRow
from justmaily.server.campaigns.service import CampaignService
from justmaily.server.campaigns.views import to_wire
from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.pagination import CursorParameter
from justmaily.server.http.policy import requires
from justmaily.server.http.problems import ApiError
from justmaily.server.identity.principal import AuthedRequest
from justmaily.shared.campaigns import (
    Campaign,
    CampaignCreate,
    CampaignStatus,
    CampaignUpdate,
    TransitionRequest,
)
from justmaily.shared.pagination import Page
from justmaily.shared.roles import Permission

# A revision as the ETag gives it ("3", also bare or weak), or `*`. Documented, and checked by
# expected_revision, so that its problem keeps its code (`invalid_if_match`).
IF_MATCH_PATTERN = r'^(?:\*|(?:W/)?"?([0-9]{1,9})"?)$'
_IF_MATCH = re.compile(IF_MATCH_PATTERN)

# Without one, the change applies to whatever revision is current: as `If-Match: *` (RFC 9110).
IfMatch = Annotated[
    str,
    HeaderParameter(
        name="If-Match",
        required=False,
        description='The revision you last saw, e.g. "3": the change is refused (412) if it moved on.',
        schema_extra={"pattern": IF_MATCH_PATTERN},
    ),
]


def expected_revision(if_match: str) -> int | None:
    match = _IF_MATCH.fullmatch(if_match.strip())
    if match is None:
        raise ApiError(400, "invalid_if_match", 'If-Match must be a campaign revision such as "3"')
    return None if match.group(1) is None else int(match.group(1))


def with_etag(campaign: CampaignRow, status_code: int = 200) -> Response[Campaign]:
    return Response(to_wire(campaign), status_code=status_code, headers={"ETag": f'"{campaign.revision}"'})


class CampaignsController(Controller):
    path = "/api/campaigns"
    tags = ["campaigns"]
    dependencies = {
        "campaigns": Provide(deps.provide_campaigns, sync_to_thread=False),
        "editing": Provide(deps.provide_editing, sync_to_thread=False),
    }

    @get(
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(Page[Campaign], examples.CAMPAIGN_PAGE) | problems(400, 422),
        summary="List campaigns, newest first",
    )
    async def list_campaigns(
        self,
        request: AuthedRequest,
        campaigns: NamedDependency[CampaignService],
        limit: Annotated[int, QueryParameter(ge=1, le=200, description="Page size")] = 50,
        cursor: CursorParameter = None,
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
        editing: NamedDependency[EditingService],
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
        return with_etag(await editing.create(request.user, data), status_code=201)

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
        editing: NamedDependency[EditingService],
        campaign_id: FromPath[uuid.UUID],
        data: Annotated[CampaignUpdate, body("new subject", {"subject": "Last chance: 20% off"})],
        if_match: IfMatch = "*",
    ) -> Response[Campaign]:
        """Subject, preheader and sender are texts of the campaign's live document: they change
        there, merged with live editors. Changing them in review, approved or scheduled returns
        the campaign to draft: an approval covers exactly the content that was approved."""
        revision = expected_revision(if_match)
        return with_etag(await editing.update(request.user, campaign_id, data, revision))

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
        editing: NamedDependency[EditingService],
        campaign_id: FromPath[uuid.UUID],
        data: Annotated[
            TransitionRequest,
            body("send back", {"action": "send_back", "reason": "The offer needs legal's wording"}),
        ],
        if_match: IfMatch = "*",
    ) -> Response[Campaign]:
        """Each action needs its own permission (docs/security.md): submit, withdraw and reopen
        need campaigns:write; approve and send_back campaigns:review; schedule, unschedule, send
        and cancel campaigns:send. Submitting keeps a version of the document; approving approves
        exactly that version's content hash. `send_back` takes a `reason`, which the campaign
        carries (`sent_back_reason`) until it is submitted again."""
        revision = expected_revision(if_match)
        return with_etag(await editing.transition(request.user, campaign_id, data, revision))

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
