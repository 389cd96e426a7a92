"""The performance view's feed: the server's performance snapshot and SLO report, read together
every few seconds while someone looks (the UI starts and stops `run`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio

from justmaily.desktop.engine.api import ApiClient
from justmaily.desktop.engine.errors import DesktopError, ErrorKind
from justmaily.shared.ops import PerformanceSnapshot, SloReport

POLL_EVERY = 5.0  # seconds; the heat-map's columns are this wide


@dataclass(frozen=True)
class PerformanceReading:
    """One poll: both answers, or why there are none."""

    snapshot: PerformanceSnapshot | None = None
    slo: SloReport | None = None
    error: DesktopError | None = None

    @property
    def offline(self) -> bool:
        """The server could not be reached: the view needs it (nothing is kept offline)."""
        return self.error is not None and self.error.kind is ErrorKind.UNREACHABLE


class PerformanceFeed:
    def __init__(self, api: ApiClient) -> None:
        self.api = api

    async def read(self) -> PerformanceReading:
        """Both answers now; a failure becomes the reading's error, never an exception."""
        try:
            snapshot = await self.api.performance()
            slo = await self.api.slo_report()
        except DesktopError as error:
            return PerformanceReading(error=error)
        return PerformanceReading(snapshot=snapshot, slo=slo)

    async def run(self, deliver: Callable[[PerformanceReading], None], every: float = POLL_EVERY) -> None:
        """Read now and every `every` seconds, handing each reading to `deliver`, until cancelled."""
        while True:
            deliver(await self.read())
            await anyio.sleep(every)
