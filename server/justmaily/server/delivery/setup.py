"""The admins' sending setup: sending domains (their DKIM keys and DNS records) and relays.

A new relay wakes the sender, after its commit so that the sender sees it: this service owns
its transactions."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.delivery.domains import checked_domain_name, dns_records, new_domain
from justmaily.server.delivery.models import Relay, SendingDomain
from justmaily.server.delivery.sender import Sender, wake
from justmaily.server.delivery.transport.relay_addresses import InternalAddressError, refuse_internal
from justmaily.server.delivery.views import to_wire
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.settings import Settings
from justmaily.server.settings.relay_urls import RelayUrlError, parse_relay_list, parse_relay_url
from justmaily.shared import delivery as wire
from justmaily.shared.problems import FieldError


class DeliverySetup:
    """Sending domains and relays of a workspace (admins)."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        secrets: SecretBox,
        sender: Sender | None,
        workspace_id: uuid.UUID,
    ) -> None:
        self.database, self.settings, self.secrets = database, settings, secrets
        self.sender, self.workspace_id = sender, workspace_id

    def _domain(self, row: SendingDomain) -> wire.SendingDomain:
        records = [
            wire.DnsRecord(name=r.name, type=r.type, value=r.value) for r in dns_records(row, self.secrets)
        ]
        return to_wire(row, records=records)

    async def add_domain(self, data: wire.SendingDomainCreate) -> wire.SendingDomain:
        name = checked_domain_name(data.domain)
        row = new_domain(self.workspace_id, name, self.secrets)
        async with transaction(self.database) as session:
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                raise ApiError(409, "domain_exists", f"{name} is a sending domain already") from None
            return self._domain(row)

    async def domains(self) -> list[wire.SendingDomain]:
        async with transaction(self.database, read_only=True) as session:
            rows = await session.scalars(
                select(SendingDomain)
                .where(SendingDomain.workspace_id == self.workspace_id)
                .order_by(SendingDomain.domain)
            )
            return [self._domain(row) for row in rows]

    async def remove_domain(self, domain_id: uuid.UUID) -> None:
        async with transaction(self.database) as session:
            row = await session.get(SendingDomain, domain_id)
            if row is None or row.workspace_id != self.workspace_id:
                raise not_found("sending domain")
            await session.delete(row)

    async def add_relay(self, data: wire.RelayCreate) -> wire.Relay:
        try:
            config = parse_relay_url(data.url, name=data.name, priority=data.priority)
            if not self.settings.delivery.smtp_allow_private_relays:
                await refuse_internal(config.host, config.port)
        except RelayUrlError as exc:
            raise ApiError(
                422, "invalid_relay_url", str(exc), errors=[FieldError(field="url", message=str(exc))]
            ) from None
        except InternalAddressError as exc:
            message = f"a relay must be on the internet: {exc}"
            raise ApiError(
                422, "relay_address_not_allowed", message, errors=[FieldError(field="url", message=message)]
            ) from None
        row = Relay(
            workspace_id=self.workspace_id,
            name=data.name,
            url=config.url,
            username=config.username,
            password=self.secrets.seal(config.password.encode()) if config.password else b"",
            priority=data.priority,
            max_per_second=data.max_per_second,
        )
        async with transaction(self.database) as session:
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                raise ApiError(409, "relay_exists", f"a relay named {data.name!r} exists already") from None
            relay = to_wire(row)
        wake(self.sender)  # after the commit, so the sender sees the relay
        return relay

    async def relays(self) -> list[wire.Relay]:
        async with transaction(self.database, read_only=True) as session:
            rows = await session.scalars(
                select(Relay)
                .where(Relay.workspace_id == self.workspace_id)
                .order_by(Relay.priority, Relay.name)
            )
            own = [to_wire(row) for row in rows]
        environment = [
            wire.Relay(
                id=None, name=c.name, url=c.url, username=c.username, priority=c.priority, max_per_second=None
            )
            for c in parse_relay_list(self.settings.delivery.smtp_relays)
        ]
        return own + environment

    async def remove_relay(self, relay_id: uuid.UUID) -> None:
        async with transaction(self.database) as session:
            row = await session.get(Relay, relay_id)
            if row is None or row.workspace_id != self.workspace_id:
                raise not_found("relay")
            await session.delete(row)
