"""SMTP relays' health: a circuit breaker and an adaptive rate each.

Relays are tried in priority order; a relay whose breaker is open is skipped until its
half-open probe succeeds. Their addresses are parsed by `settings/relay_urls.py` (the operator's
`JUSTMAILY_SMTP_RELAYS` and the relays workspace admins add are written alike).
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable

import anyio

from justmaily.server.metrics.instruments import RELAY_BREAKER_OPEN

_RECOVERY_STEP = 0.5
_UNLIMITED_AGAIN = 10_000.0


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `threshold` failures in a row; after `cooldown` lets one probe through.

    A failed probe opens it again for twice as long (up to `max_cooldown`); a success closes it.
    """

    def __init__(
        self,
        *,
        threshold: int = 5,
        cooldown: float = 5.0,
        max_cooldown: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        self.threshold, self.base_cooldown, self.max_cooldown = threshold, cooldown, max_cooldown
        self.name = name  # the relay's, in metrics (empty: not counted)
        self._clock = clock
        self._failures = 0
        self._cooldown = cooldown
        self._opened_at: float | None = None
        self._probing = False
        self.last_error = ""

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self._cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """May a message go to this relay now? In half-open state only one probe at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def succeeded(self) -> None:
        if self._opened_at is not None:
            self._show(opened=False)
        self._failures, self._opened_at, self._probing = 0, None, False
        self._cooldown = self.base_cooldown
        self.last_error = ""

    def failed(self, error: str) -> None:
        self.last_error = error
        if self._probing:  # the probe failed: open again, for longer
            self._probing = False
            self._cooldown = min(self._cooldown * 2, self.max_cooldown)
            self._opened_at = self._clock()
            return
        self._failures += 1
        if self._failures >= self.threshold and self._opened_at is None:
            self._opened_at = self._clock()
            self._show(opened=True)

    def _show(self, *, opened: bool) -> None:
        if self.name:
            RELAY_BREAKER_OPEN.labels(self.name).set(1 if opened else 0)

    def seconds_until_probe(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._cooldown - self._clock())


class AdaptiveRate:
    """A token bucket whose rate halves when the relay says "slow down" and creeps back up.

    AIMD, like TCP: multiplicative decrease on 421/451/454, additive increase on success, never
    above the configured ceiling (None: no ceiling until the relay first pushes back).
    """

    def __init__(
        self, ceiling: float | None, *, floor: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ceiling, self.floor = ceiling, floor
        self.rate: float | None = ceiling
        self._clock = clock
        self._tokens = 1.0
        self._updated = clock()
        self._successes: deque[float] = deque(maxlen=50)

    def delay(self) -> float:
        """Seconds to wait before the next message (0: go now); takes a token when it is 0."""
        if self.rate is None:
            return 0.0
        now = self._clock()
        self._tokens = min(max(1.0, self.rate / 10), self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    async def wait_turn(self) -> None:
        # A token bucket refills with time, not on an event: sleeping until the next token is it.
        while (seconds := self.delay()) > 0:  # noqa: ASYNC110
            await anyio.sleep(seconds)

    def slow_down(self) -> None:
        """The relay asked us to slow down: half the rate we have been sending at."""
        current = self.rate if self.rate is not None else max(self.observed(), self.floor * 2)
        self.rate = max(self.floor, current / 2)

    def observed(self) -> float:
        """Messages per second over the last successes (0 when there are too few to tell)."""
        if len(self._successes) < 2:
            return 0.0
        span = self._successes[-1] - self._successes[0]
        return (len(self._successes) - 1) / span if span > 0 else 0.0

    def recovered(self) -> None:
        """A message went through: half a message per second more (additive increase)."""
        self._successes.append(self._clock())
        if self.rate is None:
            return
        self.rate += _RECOVERY_STEP
        if self.ceiling is not None:
            self.rate = min(self.rate, self.ceiling)
        elif self.rate > _UNLIMITED_AGAIN:
            self.rate = None  # back to no limit, as before the relay first pushed back
