"""Audit entries noted outside a transaction (a secret opened while loading relays in a
read-only session, say), written in the background in transactions of their own.

Noting never waits and never fails the caller; entries are written within about a second and
at shutdown. An entry noted by a process that is killed before that is lost: what needs its
entry to stand or fall with a change uses `audit.record` in the change's own transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import structlog
from sqlalchemy import insert

from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.protection.audit import Actor
from justmaily.server.protection.models import AuditEntry

log = structlog.get_logger(__name__)

_FLUSH_SECONDS = 1.0
SERVER = Actor.system("server")


class AuditTrail:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._pending: list[dict[str, Any]] = []
        self._stopping = anyio.Event()
        self._stopped = anyio.Event()

    def note(
        self, actor: Actor, action: str, subject: str, *, reason: str, workspace_id: uuid.UUID | None = None
    ) -> None:
        self._pending.append(
            {
                "id": uuid.uuid4(),
                "at": utcnow(),
                "workspace_id": workspace_id,
                "actor_kind": actor.kind,
                "actor_id": actor.id[:100],
                "action": action[:60],
                "subject": subject[:200],
                "reason": reason[:500],
            }
        )

    def secret_read(self, what: str, workspace_id: uuid.UUID | None) -> None:
        """keys/sealed.py's listener: the server opened a stored secret to use it."""
        self.note(SERVER, "secret.read", what, reason="opened to use it", workspace_id=workspace_id)

    async def flush(self) -> int:
        """Write what was noted; returns how many entries."""
        batch, self._pending = self._pending, []
        if batch:
            try:
                async with self.database.session() as session, session.begin():
                    await session.execute(insert(AuditEntry), batch)
            except Exception:
                self._pending[:0] = batch  # kept for the next round
                raise
        return len(batch)

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                with anyio.move_on_after(_FLUSH_SECONDS):
                    await self._stopping.wait()
                try:
                    await self.flush()
                except Exception:
                    log.exception("writing audit entries failed; trying again")
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        self._stopping.set()
        await self._stopped.wait()
