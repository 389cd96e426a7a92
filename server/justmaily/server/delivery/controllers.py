"""HTTP handlers of the admins' sending setup: sending domains and relays."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.session import transaction
from justmaily.server.delivery import examples
from justmaily.server.delivery.sender import wake
from justmaily.server.delivery.setup import DeliverySetup
from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.policy import requires
from justmaily.server.identity.principal import AuthedRequest
from justmaily.shared import delivery as wire
from justmaily.shared.roles import Permission


def _setup(request: AuthedRequest, session: AsyncSession) -> DeliverySetup:
    state = request.app.state
    return DeliverySetup(session, state.settings, state.secrets, request.user.workspace_id)


class DeliverySetupController(Controller):
    path = "/api/delivery"
    tags = ["delivery"]

    @get(
        "/domains",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(list[wire.SendingDomain], [examples.DOMAIN]) | problems(),
        summary="Sending domains and the DNS records to publish for them",
    )
    async def list_domains(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession]
    ) -> list[wire.SendingDomain]:
        return await _setup(request, db_session).domains()

    @post(
        "/domains",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(wire.SendingDomain, examples.DOMAIN, 201) | problems(400, 409, 422),
        summary="Add a sending domain: the server makes its DKIM keys (RSA 2048 and Ed25519)",
    )
    async def add_domain(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        data: Annotated[wire.SendingDomainCreate, body("acme", {"domain": "acme.example"})],
    ) -> wire.SendingDomain:
        return await _setup(request, db_session).add_domain(data)

    @delete(
        "/domains/{domain_id:uuid}",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=problems(400, 404),
        summary="Remove a sending domain and its keys",
    )
    async def remove_domain(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        domain_id: FromPath[uuid.UUID],
    ) -> None:
        await _setup(request, db_session).remove_domain(domain_id)

    @get(
        "/relays",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(list[wire.Relay], [examples.RELAY]) | problems(),
        summary="SMTP relays in the order they are tried (passwords are never shown)",
    )
    async def list_relays(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession]
    ) -> list[wire.Relay]:
        return await _setup(request, db_session).relays()

    @post(
        "/relays",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(wire.Relay, examples.RELAY, 201) | problems(400, 409, 422),
        summary="Add an SMTP relay (its password is stored sealed)",
    )
    async def add_relay(
        self,
        request: AuthedRequest,
        data: Annotated[
            wire.RelayCreate,
            body(
                "primary",
                {"name": "primary", "url": "smtp://mailer:secret@smtp.relay.example:587", "priority": 10},
            ),
        ],
    ) -> wire.Relay:
        async with transaction(request.app.state.database) as session:
            relay = await _setup(request, session).add_relay(data)
        wake(request.app.state.sender)  # after the commit, so the sender sees the relay
        return relay

    @delete(
        "/relays/{relay_id:uuid}",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=problems(400, 404),
        summary="Remove an SMTP relay",
    )
    async def remove_relay(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession], relay_id: FromPath[uuid.UUID]
    ) -> None:
        await _setup(request, db_session).remove_relay(relay_id)
