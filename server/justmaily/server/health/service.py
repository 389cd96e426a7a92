"""What readiness checks: the database answers; a replica hears the others (the fan-out
listens); the transparency log is one this server can vouch for (its publisher raises no alarm).

The fan-out and the publisher are other domains' (collaboration, trust), above this one: the
composition root hands them over, and this names only what it reads of them."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import anyio
from sqlalchemy import text

from justmaily.server.db.engine import Database

_DB_CHECK_SECONDS = 2.0


@runtime_checkable  # Litestar checks injected values against the annotation
class Listening(Protocol):
    @property
    def listening(self) -> bool:
        """Whether it hears the other replicas now."""


@runtime_checkable
class Alarmed(Protocol):
    @property
    def alert(self) -> str | None:
        """Why it refuses to sign, while it does (docs/trust.md)."""


async def database_reachable(database: Database) -> bool:
    try:
        with anyio.fail_after(_DB_CHECK_SECONDS):
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


class HealthService:
    def __init__(self, database: Database, fanout: Listening | None, publisher: Alarmed | None) -> None:
        self.database, self.fanout, self.publisher = database, fanout, publisher

    async def readiness(self) -> dict[str, str]:
        """Each check's state; "ok" where it passes."""
        checks = {"database": "ok" if await database_reachable(self.database) else "unreachable"}
        if self.fanout is not None:  # replicas: hearing the others' edits is part of being ready
            checks["fanout"] = "ok" if self.fanout.listening else "connecting"
        if self.publisher is not None:  # a log found tampered with is an alarm (docs/trust.md)
            alert = self.publisher.alert
            checks["transparency_log"] = "ok" if alert is None else f"refusing to sign: {alert}"
        return checks
