"""HTTP and WebSocket handlers of the collaboration domain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, WebSocket, get, patch, post, websocket
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery

from justmaily.server.collaboration import deps
from justmaily.server.collaboration.entrance import RoomEntrance
from justmaily.server.collaboration.service import ContentService, VersionService
from justmaily.server.collaboration.tickets import TicketService
from justmaily.server.http import policy
from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.identity.principal import AuthedRequest
from justmaily.shared.collaboration import (
    Anchor,
    CampaignContent,
    Comment,
    CommentCreate,
    CommentResolve,
    ContentPatch,
    ReplyCreate,
    RoomTicket,
    Version,
    VersionCreate,
)
from justmaily.shared.roles import Permission

_CONTENT_EXAMPLE = {
    "campaign_id": "0b5c3c52-4d2c-4a51-9d3e-6a0f0f7c2b1e",
    "subject": "Spring is here",
    "preheader": "Three days",
    "sender": "Acme <news@acme.example>",
    "body": "# Spring sale\n\nEverything **20% off**.",
    "comments": [],
    "insights": {},
    "content_hash": "9f2c…",
}


_COMMENT_EXAMPLE = Comment(
    id="3f9a1c2e4b5d4e6f8a7b9c0d1e2f3a4b",
    author_id="6a1d4a0e-8d4b-4f0e-9a57-2b1f3c4d5e6f",
    author_name="Rita Reviewer",
    text="Which dates?",
    created_at=datetime(2026, 5, 1, 9, 30, tzinfo=UTC),
    anchor=Anchor(start="AL3m1ZcJCwA=", end="AL3m1ZcJEP8="),
)


class CollaborationController(Controller):
    path = "/api/campaigns/{campaign_id:uuid}"
    tags = ["collaboration"]
    dependencies = {
        "content": Provide(deps.provide_content, sync_to_thread=False),
        "tickets": Provide(deps.provide_tickets, sync_to_thread=False),
    }

    @post(
        "/room-ticket",
        opt=policy.requires(Permission.CAMPAIGNS_READ),
        status_code=201,
        responses=ok(
            RoomTicket,
            RoomTicket(
                ticket="eyJhbGciOi…",
                url="ws://127.0.0.1:8000/api/campaigns/"
                "0b5c3c52-4d2c-4a51-9d3e-6a0f0f7c2b1e/room?ticket=eyJhbGciOi…",
                expires_in=60,
                read_only=False,
            ),
            201,
        )
        | problems(400, 404),
        summary="A single-use ticket into the campaign's live room",
    )
    async def room_ticket(
        self,
        request: AuthedRequest,
        tickets: NamedDependency[TicketService],
        campaign_id: FromPath[uuid.UUID],
    ) -> RoomTicket:
        """Connect within `expires_in` seconds to `url` with a Yjs WebSocket client (y-websocket,
        pycrdt). Add `&acks=1` to receive "stored" messages (docs/collaboration.md)."""
        return await tickets.issue(request.user, campaign_id)

    @get(
        "/content",
        opt=policy.requires(Permission.CAMPAIGNS_READ),
        responses=ok(CampaignContent, _CONTENT_EXAMPLE) | problems(400, 404),
        summary="The campaign's live document as JSON",
    )
    async def read_content(
        self,
        request: AuthedRequest,
        content: NamedDependency[ContentService],
        campaign_id: FromPath[uuid.UUID],
    ) -> CampaignContent:
        return await content.read(request.user, campaign_id)

    @patch(
        "/content",
        opt=policy.requires(Permission.CAMPAIGNS_WRITE),
        responses=ok(CampaignContent, _CONTENT_EXAMPLE) | problems(400, 404, 409, 503),
        summary="Change the live document (merged with concurrent live edits)",
    )
    async def change_content(
        self,
        request: AuthedRequest,
        content: NamedDependency[ContentService],
        campaign_id: FromPath[uuid.UUID],
        data: Annotated[ContentPatch, body("new body", {"body": "# Spring sale\n\nNow **25% off**."})],
    ) -> CampaignContent:
        """Each given text becomes the new value through the smallest edit of the shared text, in
        one transaction: live editors see it at once and keep their carets and concurrent typing.
        Answers once the change is stored."""
        return await content.change(request.user, campaign_id, data)

    @post(
        "/comments",
        opt=policy.requires(Permission.CAMPAIGNS_COMMENT),
        responses=ok(Comment, _COMMENT_EXAMPLE, 201) | problems(400, 404, 422, 503),
        summary="Comment on a range of the body (comments are not content: no approval is voided)",
    )
    async def add_comment(
        self,
        request: AuthedRequest,
        content: NamedDependency[ContentService],
        campaign_id: FromPath[uuid.UUID],
        data: Annotated[
            CommentCreate, body("on the first word", {"text": "Which dates?", "start": 0, "end": 6})
        ],
    ) -> Comment:
        """A new thread on characters `start` to `end` of the body as it is now (or on `anchor`,
        two Yjs relative positions), written into the live document: live editors see it at
        once. Reviewers may comment; the content hash does not cover comments."""
        return await content.add_comment(request.user, campaign_id, data)

    @post(
        "/comments/{comment_id:str}/replies",
        opt=policy.requires(Permission.CAMPAIGNS_COMMENT),
        responses=ok(Comment, _COMMENT_EXAMPLE, 201) | problems(400, 404, 422, 503),
        summary="Reply to a comment thread",
    )
    async def reply_to_comment(
        self,
        request: AuthedRequest,
        content: NamedDependency[ContentService],
        campaign_id: FromPath[uuid.UUID],
        comment_id: FromPath[str],
        data: Annotated[ReplyCreate, body("an answer", {"text": "March 1 to 7"})],
    ) -> Comment:
        return await content.reply(request.user, campaign_id, comment_id, data)

    @post(
        "/comments/{comment_id:str}/resolve",
        opt=policy.requires(Permission.CAMPAIGNS_COMMENT),
        status_code=200,
        responses=ok(Comment, _COMMENT_EXAMPLE) | problems(400, 404, 422, 503),
        summary="Resolve a comment thread, or reopen it",
    )
    async def resolve_comment(
        self,
        request: AuthedRequest,
        content: NamedDependency[ContentService],
        campaign_id: FromPath[uuid.UUID],
        comment_id: FromPath[str],
        data: Annotated[CommentResolve, body("resolve", {"resolved": True})],
    ) -> Comment:
        return await content.resolve(request.user, campaign_id, comment_id, data)


_VERSION_EXAMPLE = Version(
    id=uuid.UUID("7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6"),
    campaign_id=uuid.UUID("0b5c3c52-4d2c-4a51-9d3e-6a0f0f7c2b1e"),
    name="Before legal review",
    kind="named",
    content_hash="9f2c" + "0" * 60,
    created_by=uuid.UUID("6a1d4a0e-8d4b-4f0e-9a57-2b1f3c4d5e6f"),
    created_at=datetime(2026, 5, 1, 9, 30, tzinfo=UTC),
)


class VersionsController(Controller):
    path = "/api/campaigns/{campaign_id:uuid}/versions"
    tags = ["collaboration"]
    dependencies = {"versions": Provide(deps.provide_versions, sync_to_thread=False)}

    @get(
        opt=policy.requires(Permission.CAMPAIGNS_READ),
        responses=ok(list[Version], [_VERSION_EXAMPLE]) | problems(400, 404),
        summary="The campaign's versions, newest first",
    )
    async def list_versions(
        self,
        request: AuthedRequest,
        versions: NamedDependency[VersionService],
        campaign_id: FromPath[uuid.UUID],
    ) -> list[Version]:
        return await versions.list(request.user, campaign_id)

    @post(
        opt=policy.requires(Permission.CAMPAIGNS_WRITE),
        responses=ok(Version, _VERSION_EXAMPLE, 201) | problems(400, 404),
        summary="Keep a named version of the document as it is now",
    )
    async def create_version(
        self,
        request: AuthedRequest,
        versions: NamedDependency[VersionService],
        campaign_id: FromPath[uuid.UUID],
        data: Annotated[VersionCreate, body("name it", {"name": "Before legal review"})],
    ) -> Version:
        return await versions.create(request.user, campaign_id, data.name)

    @get(
        "/{version_id:uuid}",
        opt=policy.requires(Permission.CAMPAIGNS_READ),
        responses=ok(CampaignContent, _CONTENT_EXAMPLE) | problems(400, 404),
        summary="A version's content",
    )
    async def read_version(
        self,
        request: AuthedRequest,
        versions: NamedDependency[VersionService],
        campaign_id: FromPath[uuid.UUID],
        version_id: FromPath[uuid.UUID],
    ) -> CampaignContent:
        return await versions.read(request.user, campaign_id, version_id)

    @post(
        "/{version_id:uuid}/restore",
        opt=policy.requires(Permission.CAMPAIGNS_WRITE),
        status_code=200,
        responses=ok(CampaignContent, _CONTENT_EXAMPLE) | problems(400, 404, 409, 503),
        summary="Make the document say what a version says (as new edits)",
    )
    async def restore_version(
        self,
        request: AuthedRequest,
        versions: NamedDependency[VersionService],
        campaign_id: FromPath[uuid.UUID],
        version_id: FromPath[uuid.UUID],
    ) -> CampaignContent:
        """History is never rewritten: the restore is a forward edit that live editors receive."""
        return await versions.restore(request.user, campaign_id, version_id)


@websocket(
    "/api/campaigns/{campaign_id:uuid}/room",
    opt={**policy.public(), policy.TICKET: True},
    dependencies={"entrance": Provide(deps.provide_entrance, sync_to_thread=False)},
)
async def campaign_room(
    socket: WebSocket[Any, Any, Any],
    entrance: NamedDependency[RoomEntrance],
    campaign_id: FromPath[uuid.UUID],
    ticket: FromQuery[str | None] = None,
    acks: FromQuery[bool] = False,
) -> None:
    """The campaign's Yjs room (sync and awareness protocols), entered with a room ticket."""
    await entrance.enter(socket, campaign_id, ticket, wants_acks=acks)
