"""HTTP handlers of the admins' sending setup: sending domains and relays."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from justmaily.server.delivery import deps, examples
from justmaily.server.delivery.setup import DeliverySetup
from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.policy import requires
from justmaily.shared import delivery as wire
from justmaily.shared.roles import Permission


class DeliverySetupController(Controller):
    path = "/api/delivery"
    tags = ["delivery"]
    dependencies = {"setup": Provide(deps.provide_setup, sync_to_thread=False)}

    @get(
        "/domains",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(list[wire.SendingDomain], [examples.DOMAIN]) | problems(),
        summary="Sending domains and the DNS records to publish for them",
    )
    async def list_domains(self, setup: NamedDependency[DeliverySetup]) -> list[wire.SendingDomain]:
        return await setup.domains()

    @post(
        "/domains",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(wire.SendingDomain, examples.DOMAIN, 201) | problems(400, 409, 422),
        summary="Add a sending domain: the server makes its DKIM keys (RSA 2048 and Ed25519)",
    )
    async def add_domain(
        self,
        setup: NamedDependency[DeliverySetup],
        data: Annotated[wire.SendingDomainCreate, body("acme", {"domain": "acme.example"})],
    ) -> wire.SendingDomain:
        return await setup.add_domain(data)

    @delete(
        "/domains/{domain_id:uuid}",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=problems(400, 404),
        summary="Remove a sending domain and its keys",
    )
    async def remove_domain(
        self,
        setup: NamedDependency[DeliverySetup],
        domain_id: FromPath[uuid.UUID],
    ) -> None:
        await setup.remove_domain(domain_id)

    @get(
        "/relays",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(list[wire.Relay], [examples.RELAY]) | problems(),
        summary="SMTP relays in the order they are tried (passwords are never shown)",
    )
    async def list_relays(self, setup: NamedDependency[DeliverySetup]) -> list[wire.Relay]:
        return await setup.relays()

    @post(
        "/relays",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(wire.Relay, examples.RELAY, 201) | problems(400, 409, 422),
        summary="Add an SMTP relay (its password is stored sealed)",
    )
    async def add_relay(
        self,
        setup: NamedDependency[DeliverySetup],
        data: Annotated[
            wire.RelayCreate,
            body(
                "primary",
                {"name": "primary", "url": "smtp://mailer:secret@smtp.relay.example:587", "priority": 10},
            ),
        ],
    ) -> wire.Relay:
        return await setup.add_relay(data)

    @delete(
        "/relays/{relay_id:uuid}",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=problems(400, 404),
        summary="Remove an SMTP relay",
    )
    async def remove_relay(
        self, setup: NamedDependency[DeliverySetup], relay_id: FromPath[uuid.UUID]
    ) -> None:
        await setup.remove_relay(relay_id)
