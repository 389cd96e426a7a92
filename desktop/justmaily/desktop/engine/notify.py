"""Topics that listeners subscribe to: told soon after a change, once per burst of changes.

"Soon" is after the current document transaction (inside one, reading the document fails) and
whatever else runs now, so a burst of keystrokes or messages makes one notification.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def soon(callback: Callable[[], None]) -> None:
    """Run `callback` after what runs now; at once when no event loop runs."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback()
        return
    loop.call_soon(callback)


class Topic:
    """One kind of change: `subscribe` a listener, `emit` when it happened."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self._scheduled = False

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """`listener()` runs soon after each burst of changes; returns the function that
        unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self) -> None:
        """Tell the listeners soon (safe inside a document transaction)."""
        if not self._scheduled:
            self._scheduled = True
            soon(self._deliver)

    def emit_now(self) -> None:
        """Tell the listeners before returning (never inside a document transaction): for a
        change an awaited call made, which its caller then expects to see shown."""
        for listener in list(self._listeners):
            listener()

    def _deliver(self) -> None:
        self._scheduled = False
        for listener in list(self._listeners):
            listener()
