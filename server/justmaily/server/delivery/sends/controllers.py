"""HTTP handlers of sends: create, follow and steer them, preview, and a sent message's proof."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from justmaily.server.delivery import deps, examples
from justmaily.server.delivery.sends.proofs import MessageProofs
from justmaily.server.delivery.sends.service import SendService
from justmaily.server.delivery.sends.steering import SendSteering
from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.policy import requires
from justmaily.server.identity.principal import AuthedRequest
from justmaily.server.trust import examples as trust_examples
from justmaily.shared import delivery as wire
from justmaily.shared import trust as trust_wire
from justmaily.shared.roles import Permission

_SENDS = {
    "sends": Provide(deps.provide_sends, sync_to_thread=False),
    "steering": Provide(deps.provide_steering, sync_to_thread=False),
}


class CampaignSendsController(Controller):
    path = "/api/campaigns/{campaign_id:uuid}"
    tags = ["delivery"]
    dependencies = _SENDS

    @post(
        "/sends",
        opt=requires(Permission.CAMPAIGNS_SEND),
        responses=ok(wire.Send, examples.SEND, 201) | problems(400, 404, 409, 422),
        summary="Send the approved campaign to a list or segment, now or at a time",
    )
    async def create_send(
        self,
        request: AuthedRequest,
        steering: NamedDependency[SendSteering],
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
        return await steering.create(request.user, campaign_id, data)

    @get(
        "/sends",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(list[wire.Send], [examples.SEND]) | problems(400, 404),
        summary="The campaign's sends, newest first, with their progress",
    )
    async def list_sends(
        self,
        request: AuthedRequest,
        sends: NamedDependency[SendService],
        campaign_id: FromPath[uuid.UUID],
    ) -> list[wire.Send]:
        return await sends.listing(request.user, campaign_id)

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
        steering: NamedDependency[SendSteering],
        campaign_id: FromPath[uuid.UUID],
        data: Annotated[
            wire.PreviewRequest, body("a contact", {"contact_id": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"})
        ],
    ) -> wire.Preview:
        return await steering.preview(request.user, campaign_id, data.contact_id)


class SendsController(Controller):
    path = "/api/sends/{send_id:uuid}"
    tags = ["delivery"]
    dependencies = _SENDS

    @get(
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.Send, examples.SEND) | problems(400, 404),
        summary="A send's progress: messages by state, engagement, alerts",
    )
    async def get_send(
        self, request: AuthedRequest, sends: NamedDependency[SendService], send_id: FromPath[uuid.UUID]
    ) -> wire.Send:
        return await sends.read(request.user, send_id)

    @post(
        "/pause",
        opt=requires(Permission.CAMPAIGNS_SEND),
        status_code=200,
        responses=ok(wire.Send, examples.SEND) | problems(400, 404, 409),
        summary="Pause a send (messages already handed to a relay are out)",
    )
    async def pause_send(
        self, request: AuthedRequest, steering: NamedDependency[SendSteering], send_id: FromPath[uuid.UUID]
    ) -> wire.Send:
        return await steering.pause(request.user, send_id)

    @post(
        "/resume",
        opt=requires(Permission.CAMPAIGNS_SEND),
        status_code=200,
        responses=ok(wire.Send, examples.SEND) | problems(400, 404, 409),
        summary="Resume a paused send",
    )
    async def resume_send(
        self, request: AuthedRequest, steering: NamedDependency[SendSteering], send_id: FromPath[uuid.UUID]
    ) -> wire.Send:
        return await steering.resume(request.user, send_id)

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
        steering: NamedDependency[SendSteering],
        send_id: FromPath[uuid.UUID],
        data: Annotated[wire.WinnerChoice, body("the second subject wins", {"variant": 1})],
    ) -> wire.Send:
        return await steering.choose_winner(request.user, send_id, data)

    @post(
        "/cancel",
        opt=requires(Permission.CAMPAIGNS_SEND),
        status_code=200,
        responses=ok(wire.Send, examples.SEND) | problems(400, 404, 409),
        summary="Cancel a send: no further messages go out; the campaign is cancelled",
    )
    async def cancel_send(
        self, request: AuthedRequest, steering: NamedDependency[SendSteering], send_id: FromPath[uuid.UUID]
    ) -> wire.Send:
        return await steering.cancel(request.user, send_id)


class MessageProofController(Controller):
    """The proof of one sent message: its send is delivery's, its batch and entry are trust's."""

    path = "/api/transparency"
    tags = ["transparency"]
    dependencies = {"proofs": Provide(deps.provide_proofs, sync_to_thread=False)}

    @get(
        "/messages/{message_id:str}/proof",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(trust_wire.MessageProof, trust_examples.MESSAGE_PROOF) | problems(400, 404, 409),
        summary="Everything to check one sent message offline (justmaily verify message)",
    )
    async def message_proof(
        self, request: AuthedRequest, proofs: NamedDependency[MessageProofs], message_id: FromPath[str]
    ) -> trust_wire.MessageProof:
        """`message_id` as in the message's Message-ID header, angle brackets optional (URL-encoded)."""
        return await proofs.proof(request.user, message_id)
