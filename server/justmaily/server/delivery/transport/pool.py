"""The relays a sender picks from, and the pace it may send at.

Each workspace's own relays (reloaded every few seconds, and at once when the API changes them)
come before the operator's (`JUSTMAILY_SMTP_RELAYS`); each relay keeps its health across reloads
(a circuit breaker and an adaptive rate), keyed by its address and user. Messages also wait for
the global rate and their recipient domain's.
"""

from __future__ import annotations

import dataclasses
import ssl
import uuid
from dataclasses import dataclass

import anyio
from sqlalchemy import select

from justmaily.server.db.engine import Database
from justmaily.server.delivery.models import Relay
from justmaily.server.delivery.transport.relays import AdaptiveRate, CircuitBreaker
from justmaily.server.delivery.transport.smtp import RelayConnection
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.settings import DeliverySettings
from justmaily.server.settings.relay_urls import RelayConfig, parse_relay_list, parse_relay_url

_REFRESH_SECONDS = 5.0


@dataclass
class RelayRuntime:
    config: RelayConfig
    breaker: CircuitBreaker
    rate: AdaptiveRate

    @property
    def key(self) -> str:
        return f"{self.config.url}|{self.config.username}"


class RelayPool:
    def __init__(self, database: Database, settings: DeliverySettings, secrets: SecretBox) -> None:
        self.database, self.settings, self.secrets = database, settings, secrets
        self.tls = ssl.create_default_context()
        self._operators = parse_relay_list(settings.smtp_relays)
        self._state: dict[str, RelayRuntime] = {}
        self._by_workspace: dict[uuid.UUID, list[RelayRuntime]] = {}
        self._loaded_at = 0.0
        self._global_rate = AdaptiveRate(settings.send_rate_per_second or None)
        self._domain_rates: dict[str, AdaptiveRate] = {}
        self._confirmation_connections: dict[str, RelayConnection] = {}

    def changed(self) -> None:
        """The relays may have changed: reload them at the next look."""
        self._loaded_at = 0.0

    async def cover(self, workspace_ids: set[uuid.UUID]) -> None:
        """Have these workspaces' relays loaded, and fresh."""
        stale = anyio.current_time() - self._loaded_at > _REFRESH_SECONDS
        if stale or not workspace_ids <= set(self._by_workspace):
            await self._load(workspace_ids)

    def knows(self, workspace_ids: set[uuid.UUID]) -> bool:
        return workspace_ids <= set(self._by_workspace)

    async def _load(self, workspace_ids: set[uuid.UUID]) -> None:
        self._loaded_at = anyio.current_time()
        async with self.database.session(read_only=True) as session:
            rows = list(
                await session.scalars(
                    select(Relay)
                    .where(Relay.workspace_id.in_(workspace_ids))
                    .order_by(Relay.priority, Relay.name)
                )
            )
        loaded: dict[uuid.UUID, list[RelayRuntime]] = {workspace_id: [] for workspace_id in workspace_ids}
        for row in rows:
            config = relay_config(row, self.secrets, internal_allowed=self.settings.smtp_allow_private_relays)
            loaded[row.workspace_id].append(self._runtime(config))
        operators = [self._runtime(config) for config in self._operators]
        self._by_workspace = {key: value + operators for key, value in loaded.items()}

    def _runtime(self, config: RelayConfig) -> RelayRuntime:
        key = f"{config.url}|{config.username}"
        runtime = self._state.get(key)
        if runtime is None or runtime.config != config:
            runtime = RelayRuntime(
                config,
                CircuitBreaker(
                    threshold=self.settings.relay_failures_to_open,
                    cooldown=self.settings.relay_cooldown_seconds,
                    name=config.name,
                ),
                AdaptiveRate(config.max_per_second),
            )
            self._state[key] = runtime
        return runtime

    def pick(self, workspace_id: uuid.UUID) -> RelayRuntime | None:
        """The first relay of the workspace whose breaker lets a message through."""
        for relay in self._by_workspace.get(workspace_id, []):
            if relay.breaker.allow():
                return relay
        return None

    async def wait_turn(self, relay: RelayRuntime, address: str) -> None:
        """Until the global rate, the recipient domain's and the relay's allow one more message."""
        await self._global_rate.wait_turn()
        await self._domain_rate(address).wait_turn()
        await relay.rate.wait_turn()

    def _domain_rate(self, address: str) -> AdaptiveRate:
        domain = address.rpartition("@")[2].lower()
        rate = self._domain_rates.get(domain)
        if rate is None:
            rate = self._domain_rates[domain] = AdaptiveRate(self.settings.send_rate_per_domain or None)
        return rate

    def connection(self, relay: RelayRuntime, connections: dict[str, RelayConnection]) -> RelayConnection:
        """The caller's open connection to `relay` (one per worker and relay), made when needed."""
        connection = connections.get(relay.key)
        if connection is None or connection.relay != relay.config:
            connection = connections[relay.key] = RelayConnection(
                relay.config, timeout=self.settings.smtp_timeout_seconds, tls_context=self.tls
            )
        return connection

    def confirmation_relay(self, workspace_id: uuid.UUID) -> tuple[RelayConnection, CircuitBreaker] | None:
        """Where double opt-in requests of the workspace go (their own connections)."""
        relay = self.pick(workspace_id)
        if relay is None:
            return None
        return self.connection(relay, self._confirmation_connections), relay.breaker

    async def close(self) -> None:
        for connection in self._confirmation_connections.values():
            await connection.close()

    def rates(self) -> dict[str, float | None]:
        """Each relay's current rate limit (None: none), as the adaptive rates have set it."""
        return {runtime.config.url: runtime.rate.rate for runtime in self._state.values()}

    def no_relay_alert(self, workspace_id: uuid.UUID) -> str:
        relays = self._by_workspace.get(workspace_id, [])
        if not relays:
            return "no SMTP relay is configured: add one (POST /api/delivery/relays) and resume"
        failing = "; ".join(f"{r.config.name}: {r.breaker.last_error or 'failing'}" for r in relays)
        return f"every relay is failing ({failing}); resume once one works"


def relay_config(row: Relay, secrets: SecretBox, *, internal_allowed: bool) -> RelayConfig:
    """A stored relay as the sender uses it (the address parsed, the password opened)."""
    return dataclasses.replace(
        parse_relay_url(row.url, name=row.name, priority=row.priority, internal_allowed=internal_allowed),
        username=row.username,
        password=secrets.open(
            row.password, what=f"password of relay {row.name}", workspace_id=row.workspace_id
        ).decode()
        if row.password
        else "",
        max_per_second=row.max_per_second,
    )
