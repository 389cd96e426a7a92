"""HTTP handlers of sends: create, follow and steer them, preview, and a sent message's proof."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns.ports import CampaignDocument
from justmaily.server.db.session import transaction
from justmaily.server.delivery import examples
from justmaily.server.delivery.models import Send
from justmaily.server.delivery.sender import wake
from justmaily.server.delivery.sends.service import SendService
from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.policy import requires
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.principal import AuthedRequest
from justmaily.server.trust import examples as trust_examples
from justmaily.server.trust.evidence import ProofUnavailableError, message_proof
from justmaily.server.trust.models import BatchLeaf
from justmaily.shared import delivery as wire
from justmaily.shared import trust as trust_wire
from justmaily.shared.roles import Permission


def _sends(request: AuthedRequest, session: AsyncSession) -> SendService:
    state = request.app.state
    return SendService(session, state.settings, state.secrets, state.ca, state.events)


async def _change_send(request: AuthedRequest, change: Callable[[SendService], Awaitable[Send]]) -> wire.Send:
    """Apply `change` to a send in a transaction of its own, then wake the sender: after the
    commit, so the sender sees the change."""
    async with transaction(request.app.state.database) as session:
        service = _sends(request, session)
        view = await service.view(await change(service))
    wake(request.app.state.sender)
    return view


class CampaignSendsController(Controller):
    path = "/api/campaigns/{campaign_id:uuid}"
    tags = ["delivery"]

    @post(
        "/sends",
        opt=requires(Permission.CAMPAIGNS_SEND),
        responses=ok(wire.Send, examples.SEND, 201) | problems(400, 404, 409, 422),
        summary="Send the approved campaign to a list or segment, now or at a time",
    )
    async def create_send(
        self,
        request: AuthedRequest,
        campaign_id: FromPath[uuid.UUID],
        data: Annotated[
            wire.SendCreate,
            body(
                "to a list",
                {"list_id": "7c6b5a49-3827-4165-9f8e-7d6c5b4a3928", "send_at": "2030-05-01T09:00:00+02:00"},
            ),
        ],
    ) -> wire.Send:
        """The approved content (as it was sent to review) is frozen into the send: later edits do
        not change it. Every recipient gets one message (docs/delivery.md); suppressed and
        unsubscribed contacts none."""
        principal, database = request.user, request.app.state.database
        async with transaction(database) as session:
            service = _sends(request, session)
            send = await service.create(principal, campaign_id, data)
            view = await service.view(send)
        wake(request.app.state.sender)
        return view

    @get(
        "/sends",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(list[wire.Send], [examples.SEND]) | problems(400, 404),
        summary="The campaign's sends, newest first, with their progress",
    )
    async def list_sends(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        campaign_id: FromPath[uuid.UUID],
    ) -> list[wire.Send]:
        service = _sends(request, db_session)
        return [await service.view(send) for send in await service.of_campaign(request.user, campaign_id)]

    @post(
        "/preview",
        opt=requires(Permission.CONTACTS_READ),
        status_code=200,
        responses=ok(wire.Preview, examples.PREVIEW) | problems(400, 404, 422),
        summary="The campaign as one contact would receive it now",
    )
    async def preview(
        self,
        request: AuthedRequest,
        document: NamedDependency[CampaignDocument],
        campaign_id: FromPath[uuid.UUID],
        data: Annotated[
            wire.PreviewRequest, body("a contact", {"contact_id": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"})
        ],
    ) -> wire.Preview:
        principal, database = request.user, request.app.state.database
        content = await document.read(principal, campaign_id)
        async with transaction(database, read_only=True) as session:
            return await _sends(request, session).preview(principal, content, data.contact_id)


class SendsController(Controller):
    path = "/api/sends/{send_id:uuid}"
    tags = ["delivery"]

    @get(
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.Send, examples.SEND) | problems(400, 404),
        summary="A send's progress: messages by state, engagement, alerts",
    )
    async def get_send(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession], send_id: FromPath[uuid.UUID]
    ) -> wire.Send:
        service = _sends(request, db_session)
        return await service.view(await service.get(request.user, send_id))

    @post(
        "/pause",
        opt=requires(Permission.CAMPAIGNS_SEND),
        status_code=200,
        responses=ok(wire.Send, examples.SEND) | problems(400, 404, 409),
        summary="Pause a send (messages already handed to a relay are out)",
    )
    async def pause_send(self, request: AuthedRequest, send_id: FromPath[uuid.UUID]) -> wire.Send:
        return await _change_send(request, lambda service: service.pause(request.user, send_id))

    @post(
        "/resume",
        opt=requires(Permission.CAMPAIGNS_SEND),
        status_code=200,
        responses=ok(wire.Send, examples.SEND) | problems(400, 404, 409),
        summary="Resume a paused send",
    )
    async def resume_send(self, request: AuthedRequest, send_id: FromPath[uuid.UUID]) -> wire.Send:
        return await _change_send(request, lambda service: service.resume(request.user, send_id))

    @post(
        "/winner",
        opt=requires(Permission.CAMPAIGNS_SEND),
        status_code=200,
        responses=ok(wire.Send, examples.SEND) | problems(400, 404, 409, 422),
        summary="End the send's A/B test now: a chosen subject, or the best so far, goes to the rest",
    )
    async def choose_winner(
        self,
        request: AuthedRequest,
        send_id: FromPath[uuid.UUID],
        data: Annotated[wire.WinnerChoice, body("the second subject wins", {"variant": 1})],
    ) -> wire.Send:
        return await _change_send(request, lambda service: service.choose_winner(request.user, send_id, data))

    @post(
        "/cancel",
        opt=requires(Permission.CAMPAIGNS_SEND),
        status_code=200,
        responses=ok(wire.Send, examples.SEND) | problems(400, 404, 409),
        summary="Cancel a send: no further messages go out; the campaign is cancelled",
    )
    async def cancel_send(self, request: AuthedRequest, send_id: FromPath[uuid.UUID]) -> wire.Send:
        return await _change_send(request, lambda service: service.cancel(request.user, send_id))


class MessageProofController(Controller):
    """The proof of one sent message: its send is delivery's, its batch and entry are trust's."""

    path = "/api/transparency"
    tags = ["transparency"]

    @get(
        "/messages/{message_id:str}/proof",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(trust_wire.MessageProof, trust_examples.MESSAGE_PROOF) | problems(400, 404, 409),
        summary="Everything to check one sent message offline (justmaily verify message)",
    )
    async def message_proof(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession], message_id: FromPath[str]
    ) -> trust_wire.MessageProof:
        """`message_id` as in the message's Message-ID header, angle brackets optional (URL-encoded)."""
        wanted = message_id.strip().removeprefix("<").removesuffix(">")
        leaf = await db_session.get(BatchLeaf, wanted[:200])
        send = None if leaf is None else await db_session.get(Send, leaf.send_id)
        if leaf is None or send is None or send.workspace_id != request.user.workspace_id:
            raise not_found("sent message (of a finished send)")
        state = request.app.state
        try:
            return await message_proof(
                db_session, leaf, send.log_index, send.certificate_serial, state.log_signer, state.ca
            )
        except ProofUnavailableError as exc:
            raise ApiError(409, "proof_unavailable", str(exc)) from None
