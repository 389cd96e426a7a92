"""Waiting for state that has no event to await (widgets, log files), bounded."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio

T = TypeVar("T")


async def eventually(probe: Callable[[], T | None], within: float = 15.0) -> T:
    """Poll `probe` until it returns something true, for at most `within` seconds."""
    with anyio.fail_after(within):
        for _ in range(int(within / 0.02) + 1):
            found = probe()
            if found:
                return found
            await anyio.sleep(0.02)
    raise AssertionError("never happened")
