"""Reads the stored indicator counts and answers the SLO report; retention policies and legal
holds."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.http.problems import not_found
from justmaily.server.ops import compliance
from justmaily.server.ops.models import LegalHold, RetentionRun, SliMinute
from justmaily.server.ops.retention_policy import PURGED, RetentionFile
from justmaily.server.ops.sampler import rfc3339
from justmaily.server.ops.slo import SloFile
from justmaily.shared import ops as wire
from justmaily.shared.ops import SloReport

log = structlog.get_logger(__name__)


class OpsService:
    def __init__(self, session: AsyncSession, slos: SloFile) -> None:
        self.session, self.slos = session, slos

    async def slo_report(self, now: float | None = None) -> SloReport:
        now = time.time() if now is None else now
        since = int(now - self.slos.window_days * 86400) // 60 * 60
        rows = await self.session.execute(
            select(SliMinute.slo, SliMinute.minute, SliMinute.good, SliMinute.total).where(
                SliMinute.minute >= since
            )
        )
        counts: compliance.Counts = defaultdict(list)
        for slo, minute, good, total in rows:
            counts[slo].append((minute, good, total))
        return SloReport(generated_at=rfc3339(now), objectives=compliance.statuses(self.slos, counts, now))


class RetentionService:
    """The policies with their last runs, and a workspace's legal holds."""

    def __init__(self, session: AsyncSession, policies: RetentionFile) -> None:
        self.session, self.policies = session, policies

    async def status(self, workspace_id: uuid.UUID) -> wire.RetentionStatus:
        runs: dict[str, tuple[RetentionRun | None, bool]] = {}
        for kind in PURGED:
            last = await self.session.scalar(
                select(RetentionRun)
                .where(RetentionRun.kind == kind, RetentionRun.finished_at.is_not(None))
                .order_by(RetentionRun.finished_at.desc())
                .limit(1)
            )
            open_run = await self.session.scalar(
                select(RetentionRun.id).where(RetentionRun.kind == kind, RetentionRun.finished_at.is_(None))
            )
            runs[kind] = (last, open_run is not None)
        policies = []
        for policy in self.policies.policy:
            last, running = runs.get(policy.kind) or (None, False)
            policies.append(
                wire.RetentionPolicy(
                    kind=policy.kind,
                    days=policy.days,
                    description=policy.description,
                    purged_by="server" if policy.kind in PURGED else "log platform",
                    last_run_finished_at=last.finished_at if last else None,
                    last_run_deleted=last.deleted if last else None,
                    running=running,
                )
            )
        return wire.RetentionStatus(policies=policies, holds=await self.holds(workspace_id))

    async def holds(self, workspace_id: uuid.UUID) -> list[wire.LegalHold]:
        rows = await self.session.scalars(
            select(LegalHold)
            .where(LegalHold.workspace_id == workspace_id, LegalHold.released_at.is_(None))
            .order_by(LegalHold.created_at)
        )
        return [_hold(row) for row in rows]

    async def place(self, workspace_id: uuid.UUID, by: uuid.UUID, reason: str) -> wire.LegalHold:
        hold = LegalHold(workspace_id=workspace_id, reason=reason, created_by=by, created_at=utcnow())
        self.session.add(hold)
        await self.session.flush()
        log.info("legal_hold_placed", hold=str(hold.id), workspace=str(workspace_id), by=str(by))
        return _hold(hold)

    async def release(self, workspace_id: uuid.UUID, hold_id: uuid.UUID, by: uuid.UUID) -> None:
        hold = await self.session.get(LegalHold, hold_id)
        if hold is None or hold.workspace_id != workspace_id or hold.released_at is not None:
            raise not_found("legal hold")
        hold.released_at, hold.released_by = utcnow(), by
        log.info("legal_hold_released", hold=str(hold.id), workspace=str(workspace_id), by=str(by))


def _hold(row: LegalHold) -> wire.LegalHold:
    return wire.LegalHold(
        id=row.id,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
        released_at=row.released_at,
    )
