"""Signs a new tree head whenever the log has grown, every `log_publish_seconds`.

Every replica may run one: they sign the same size with the same key and root, and the first
row stays (`log.publish`). It stops at a safe point (`stop`), never mid-query: cancelling an
aiosqlite call half-way leaves a connection that never closes.

Before each tree head it checks that the log's append-only guards are in force and that the
tree extends what this key signed before (`log.publish`). If not, it signs nothing, logs the
finding at error level and keeps it as `alert`, which the readiness probe reports
(docs/trust.md, "When the log was tampered with"); it checks again every interval.
"""

from __future__ import annotations

import anyio
import structlog

from justmaily.server.db.append_only import missing_guards
from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.trust import log as trust_log
from justmaily.server.trust.audit_roots import AuditRoots
from justmaily.server.trust.log import LogSigner, LogTamperedError, SignedTree

log = structlog.get_logger(__name__)


class TreeHeadPublisher:
    def __init__(self, database: Database, signer: LogSigner, interval: float, keys: dict[str, str]) -> None:
        """`keys`: what to put on the record once in use (`log.record_keys`)."""
        self.database, self.signer, self.interval, self.keys = database, signer, interval, keys
        self.alert: str | None = None  # why it refuses to sign, while it does
        self.audit_roots = AuditRoots()  # each finished day's audit log root goes into the log too
        self._signed: SignedTree | None = None  # the newest tree this key signed, as last seen
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
                    await self._publish(record=not recorded)
                    recorded = True
                except LogTamperedError as exc:
                    self._refuse(str(exc))
                except Exception:
                    log.exception("signing a tree head failed; trying again")
                with anyio.move_on_after(self.interval):
                    await self._wake.wait()
                self._wake = anyio.Event()
        finally:
            self._stopped.set()

    async def _publish(self, *, record: bool) -> None:
        async with self.database.session() as session, session.begin():
            missing = await missing_guards(session)
            if missing:
                raise LogTamperedError(
                    f"the log's append-only guards are not in force: {', '.join(missing)} (dropped,"
                    " disabled or changed); restore them as migrations 0007 and 0008 made them"
                )
            if record:
                await trust_log.record_keys(session, self.keys)
            await self.audit_roots.append_due(session, utcnow())
            head = await trust_log.publish(session, self.signer, since=self._signed)
            newest = await trust_log.last_signed(session, self.signer)
        self.audit_roots.committed()
        if newest is not None and (self._signed is None or newest.size >= self._signed.size):
            self._signed = newest
        if head is not None:
            log.info("tree head signed", size=head.size)
        if self.alert is not None:
            log.warning("the transparency log checks pass again; signing tree heads", was=self.alert)
            self.alert = None

    def _refuse(self, reason: str) -> None:
        if reason != self.alert:  # once per finding, not every interval
            log.error("transparency log tampered with: refusing to sign tree heads", reason=reason)
        self.alert = reason

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        await self._stopped.wait()
