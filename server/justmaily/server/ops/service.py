"""Reads the stored indicator counts and answers the SLO report."""

from __future__ import annotations

import time
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.ops import compliance
from justmaily.server.ops.models import SliMinute
from justmaily.server.ops.sampler import rfc3339
from justmaily.server.ops.slo import SloFile
from justmaily.shared.ops import SloReport


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
