"""The mesh inside a server process (the embedded path, docs/mesh.md): its in-process agents,
their heartbeats into the registry, and the watcher that turns document changes into analyses
whose verdicts land in the document's `insights["mesh"]`.

`changed` is collaboration's `ContentWatcher`: it only notes the latest texts of a campaign and
makes sure one task follows that campaign; the task waits until the texts rest for
`debounce_seconds`, analyses them with every kind at once (engine.py) and writes the verdicts
with the revision they describe. Typing never waits on any of it.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass

import anyio
import msgspec
import structlog
from anyio.abc import TaskGroup

from justmaily.server.audiences.repository import attribute_keys
from justmaily.server.collaboration.service import ContentService
from justmaily.server.db.engine import Database
from justmaily.server.mesh import registry
from justmaily.server.mesh.agents.email import Email
from justmaily.server.mesh.breaker import BreakerPolicy
from justmaily.server.mesh.engine import Engine, EnginePolicy, InProcessAgent, show_agents
from justmaily.server.settings.model import MeshSettings
from justmaily.shared.mesh import MESH_INSIGHTS, AgentKind, MeshInsights, Verdict

log = structlog.get_logger(__name__)
DOCUMENTS_AT_ONCE = 2


@dataclass(frozen=True, slots=True)
class _Change:
    workspace_id: uuid.UUID
    texts: dict[str, str]
    revision: str
    at: float


def engine_for(settings: MeshSettings) -> Engine:
    """An engine with the settings' policy and `agents_per_kind` in-process agents of each kind."""
    engine = Engine(
        EnginePolicy(
            timeout=settings.task_timeout_seconds,
            attempts=settings.attempts,
            breaker=BreakerPolicy(open_seconds=settings.breaker_open_seconds),
        )
    )
    processes = anyio.CapacityLimiter(settings.processes) if settings.processes else None
    for kind in AgentKind:
        for _ in range(settings.agents_per_kind):
            engine.add(InProcessAgent(kind, processes))
    return engine


class Mesh:
    def __init__(
        self, settings: MeshSettings, database: Database, content: ContentService, engine: Engine
    ) -> None:
        self.settings = settings
        self.database = database
        self.content = content
        self.engine = engine
        self.host = f"{socket.gethostname()}:{os.getpid()}"
        self._changes: dict[uuid.UUID, _Change] = {}
        self._following: set[uuid.UUID] = set()
        self._group: TaskGroup | None = None
        # Documents analysed at once: each asks every kind at once already, and on a busy server
        # more would only queue in the agents and time out there (changes coalesce meanwhile).
        self._documents = anyio.CapacityLimiter(DOCUMENTS_AT_ONCE)
        self._stop = anyio.Event()
        self.analysed = 0  # documents analysed by this process (tests, benchmarks)

    # collaboration's ContentWatcher ------------------------------------------------------------

    def changed(
        self, campaign_id: uuid.UUID, workspace_id: uuid.UUID, texts: dict[str, str], revision: str
    ) -> None:
        self._changes[campaign_id] = _Change(workspace_id, texts, revision, time.monotonic())
        if self._group is not None and campaign_id not in self._following:
            self._following.add(campaign_id)
            self._group.start_soon(self._follow, campaign_id)

    # running -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Heartbeats until `stop`; the analyses run in this task's group."""
        try:
            async with anyio.create_task_group() as group:
                self._group = group
                group.start_soon(self._heartbeats)
                for campaign_id in set(self._changes) - self._following:  # told before it ran
                    self._following.add(campaign_id)
                    group.start_soon(self._follow, campaign_id)
                await self._stop.wait()
                group.cancel_scope.cancel()
        finally:
            self._group = None
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                try:
                    await registry.retire(self.database, list(self.engine.agents))
                except Exception:  # shutting down: the heartbeats' silence says it too
                    log.exception("mesh_retire_failed")

    def stop(self) -> None:
        self._stop.set()

    async def _heartbeats(self) -> None:
        while True:
            try:
                await registry.publish(self.database, list(self.engine.agents.values()), self.host)
                show_agents(self.engine)
            except Exception:  # the database is away: the next beat tries again
                log.exception("mesh_heartbeat_failed")
            await anyio.sleep(self.settings.heartbeat_seconds)

    async def _follow(self, campaign_id: uuid.UUID) -> None:
        try:
            while (change := self._changes.get(campaign_id)) is not None:
                rest = change.at + self.settings.debounce_seconds - time.monotonic()
                if rest > 0:
                    await anyio.sleep(rest)  # typing goes on: look again when it rests
                    continue
                async with self._documents:  # a backlog waits here, not in the agents' timeouts
                    latest = self._changes.pop(campaign_id, change)  # what came meanwhile, if any
                    await self._analyse(campaign_id, latest)
        finally:
            self._following.discard(campaign_id)

    async def _analyse(self, campaign_id: uuid.UUID, change: _Change) -> None:
        known = await self.known_fields(change.workspace_id)
        email = await anyio.to_thread.run_sync(Email.of, change.texts, known)
        verdicts: dict[str, Verdict] = {}

        async def one(kind: AgentKind) -> None:
            verdicts[str(kind)] = await self.engine.analyse(kind, email, change.revision)

        async with anyio.create_task_group() as group:
            for kind in AgentKind:
                group.start_soon(one, kind)
        entry = MeshInsights(revision=change.revision, verdicts=dict(sorted(verdicts.items())))
        try:
            await self.content.write_insight(
                campaign_id, change.workspace_id, MESH_INSIGHTS, msgspec.to_builtins(entry)
            )
        except Exception:  # the room could not store it: the next change brings new verdicts
            log.exception("mesh_insights_not_written", campaign=str(campaign_id))
            return
        self.analysed += 1

    async def known_fields(self, workspace_id: uuid.UUID) -> frozenset[str] | None:
        """The audience's merge fields; None (unchecked) if the database cannot say now."""
        try:
            async with self.database.session(read_only=True) as session:
                return frozenset(await attribute_keys(session, workspace_id))
        except Exception:
            log.exception("mesh_fields_unknown")
            return None
