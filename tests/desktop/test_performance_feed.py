"""The Performance view's feed, without widgets, against a real server process: both answers for
an admin, a refusal for an editor, and 'offline' once the server is gone."""

from __future__ import annotations

import anyio
import pytest

from justmaily.desktop.engine.errors import ErrorKind
from justmaily.desktop.engine.performance import PerformanceFeed, PerformanceReading
from justmaily.shared.roles import Role
from tests.plugins.desktop import Desktops
from tests.plugins.live_server import Live

pytestmark = pytest.mark.backends("sqlite")


async def test_the_feed_reads_both_answers_refusals_and_being_offline(live: Live, desktops: Desktops) -> None:
    admin = PerformanceFeed((await desktops.sign_in(Role.ADMIN)).api)
    reading = await admin.read()
    assert reading.error is None
    assert reading.snapshot is not None
    assert reading.slo is not None
    assert "availability" in {o.name for o in reading.slo.objectives}
    assert not reading.offline

    refused = await PerformanceFeed((await desktops.sign_in(Role.EDITOR)).api).read()
    assert refused.error is not None
    assert refused.error.kind is ErrorKind.FORBIDDEN
    assert not refused.offline

    # `run` hands over a reading per round until cancelled.
    readings: list[PerformanceReading] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:

            def deliver(reading: PerformanceReading) -> None:
                readings.append(reading)
                if len(readings) == 3:
                    group.cancel_scope.cancel()

            group.start_soon(admin.run, deliver, 0.01)
    assert [r.snapshot is not None for r in readings] == [True] * 3
    taken = [r.snapshot.taken_at for r in readings if r.snapshot is not None]
    assert taken == sorted(taken)

    live.server.stop()
    gone = await admin.read()
    assert gone.offline
    assert gone.snapshot is None
