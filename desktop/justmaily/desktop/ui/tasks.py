"""Background work for the UI: coroutines run in the app's anyio task group (inside Qt's loop
through qasync), so the window never waits on the network or the disk, and failures are seen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from justmaily.desktop.engine.api import DesktopError


class Tasks:
    def __init__(self, group: TaskGroup, on_error: Callable[[str], None]) -> None:
        self._group = group
        self._on_error = on_error

    def spawn(
        self, work: Callable[..., Awaitable[Any]], *args: Any, owner: QObject | None = None
    ) -> anyio.CancelScope:
        """Run `work(*args)`; a `DesktopError` becomes a message for the user, not a crash.
        Cancel the returned scope to stop it; it stops by itself when `owner` is destroyed
        (by default the object whose method `work` is)."""
        scope = anyio.CancelScope()
        owner = owner if owner is not None else getattr(work, "__self__", None)
        if isinstance(owner, QObject):
            owner.destroyed.connect(scope.cancel)

        async def guarded() -> None:
            if scope.cancel_called:  # its owner went away before it started
                return
            with scope:
                try:
                    await work(*args)
                except DesktopError as exc:
                    self._on_error(str(exc))

        self._group.start_soon(guarded)
        return scope


def show_error(parent: QWidget | None, message: str) -> None:
    """A warning that does not block: a modal `exec()` inside a running task would re-enter
    the event loop (qasync refuses to run other tasks from inside one)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "JustMaily", message, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
