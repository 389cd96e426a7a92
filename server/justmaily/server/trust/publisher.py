"""Signs a new tree head whenever the log has grown, every `log_publish_seconds`.

Every replica may run one: they sign the same size with the same key and root, and the first
row stays (`log.publish`). It stops at a safe point (`stop`), never mid-query: cancelling an
aiosqlite call half-way leaves a connection that never closes.
"""

from __future__ import annotations

import anyio
import structlog

from justmaily.server.db.engine import Database
from justmaily.server.trust import log as trust_log
from justmaily.server.trust.log import LogSigner

log = structlog.get_logger(__name__)


class TreeHeadPublisher:
    def __init__(self, database: Database, signer: LogSigner, interval: float, keys: dict[str, str]) -> None:
        """`keys`: what to put on the record once in use (`log.record_keys`)."""
        self.database, self.signer, self.interval, self.keys = database, signer, interval, keys
        self._stopping = anyio.Event()
        self._stopped = anyio.Event()
        self._wake = anyio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        recorded = False
        try:
            while not self._stopping.is_set():
                try:
                    async with self.database.session() as session, session.begin():
                        if not recorded:
                            await trust_log.record_keys(session, self.keys)
                        head = await trust_log.publish(session, self.signer)
                    recorded = True
                    if head is not None:
                        log.info("tree head signed", size=head.size)
                except Exception:
                    log.exception("signing a tree head failed; trying again")
                with anyio.move_on_after(self.interval):
                    await self._wake.wait()
                self._wake = anyio.Event()
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        await self._stopped.wait()
