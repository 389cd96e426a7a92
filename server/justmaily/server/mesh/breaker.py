"""A circuit breaker per agent over a sliding window of its last outcomes.

Closed: every task may go to the agent; each outcome enters the window (the last `window`).
When at least `minimum` outcomes are in the window and the share of failures reaches
`failure_rate`, it opens: no task goes to the agent for `open_seconds`. Then it is half-open:
one task (the probe) may go; its success closes the breaker with an empty window, its failure
opens it again for another `open_seconds`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from justmaily.shared.mesh import BreakerState


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    window: int = 10
    minimum: int = 4
    failure_rate: float = 0.5
    open_seconds: float = 30.0


class Breaker:
    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._outcomes: deque[bool] = deque(maxlen=policy.window)  # True: a success
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.policy.open_seconds:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def allows(self) -> bool:
        """May a task go to the agent now? In half-open, only one task: the probe."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        return state is BreakerState.HALF_OPEN and not self._probing

    def started(self) -> None:
        """A task went to the agent (when half-open, it is the probe)."""
        if self.state is BreakerState.HALF_OPEN:
            self._probing = True

    def succeeded(self) -> None:
        if self._opened_at is not None:
            if self.state is BreakerState.HALF_OPEN:  # the probe came back: close
                self._opened_at, self._probing = None, False
                self._outcomes.clear()
            return  # a late answer from before it opened changes nothing
        self._outcomes.append(True)

    def failed(self) -> None:
        if self._opened_at is not None:
            if self.state is BreakerState.HALF_OPEN:  # the probe failed: open again
                self._opened_at, self._probing = self._clock(), False
            return
        self._outcomes.append(False)
        failures = self._outcomes.count(False)
        if (
            len(self._outcomes) >= self.policy.minimum
            and failures / len(self._outcomes) >= self.policy.failure_rate
        ):
            self._opened_at = self._clock()
            self._outcomes.clear()

    @property
    def failures(self) -> int:
        """Failures in the current window (a closed breaker with some is `degraded`)."""
        return self._outcomes.count(False)
