"""Background work for the UI: coroutines run in the app's anyio task group (inside Qt's loop
through qasync), so the window never waits on the network or the disk, and failures are seen."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio
from anyio.abc import TaskGroup
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from justmaily.desktop.engine.errors import DesktopError

_Work = Callable[[], Coroutine[Any, Any, None]]


class Job:
    """A handle on spawned work: `cancel()` stops it, also before it started."""

    def __init__(self) -> None:
        self.cancelled = False
        self.scope: anyio.CancelScope | None = None  # made inside the task: anyio needs one

    def cancel(self) -> None:
        self.cancelled = True
        if self.scope is not None:
            # An owner destroyed after the event loop ended (at exit) has no task left to stop.
            with contextlib.suppress(RuntimeError):
                self.scope.cancel()

    def met_deleted_widget(self, error: RuntimeError) -> bool:
        """Whether `error` is this cancelled job touching a widget deleted along with its owner."""
        return self.cancelled and "already deleted" in str(error)


class Tasks:
    """Make it inside the task group's task. Work is handed to a dispatcher task because Qt slots
    and timers run outside any task, where anyio cannot start one."""

    def __init__(self, group: TaskGroup, on_error: Callable[[str], None]) -> None:
        self._group = group
        self._on_error = on_error
        self._queue, self._queued = anyio.create_memory_object_stream[
            Callable[[], Coroutine[Any, Any, None]]
        ](math.inf)
        self._running: set[Job] = set()
        self._job_ended: anyio.Event | None = None  # made inside a task, by `settle`
        group.start_soon(self._dispatch)

    async def _dispatch(self) -> None:
        async with self._queue, self._queued:
            async for work in self._queued:
                self._group.start_soon(work)

    def spawn(self, work: Callable[..., Awaitable[Any]], *args: Any, owner: QObject | None = None) -> Job:
        """Run `work(*args)`; a `DesktopError` becomes a message for the user, not a crash. Callable
        from Qt slots and timers. Cancel the returned job to stop it;
        it stops by itself when `owner` is destroyed (by default the object whose method `work` is)."""
        job = Job()
        owner = owner if owner is not None else getattr(work, "__self__", None)
        if isinstance(owner, QObject):
            owner.destroyed.connect(job.cancel)

        async def guarded() -> None:
            if job.cancelled:  # its owner went away before it started
                return
            self._running.add(job)
            try:
                with anyio.CancelScope() as job.scope:
                    try:
                        await work(*args)
                    except DesktopError as exc:
                        self._on_error(str(exc))
                    except RuntimeError as exc:
                        # anyio cancels a task whose awaited reply has already arrived only after
                        # it resumed, so work whose owner was just deleted can still touch its widgets.
                        if not job.met_deleted_widget(exc):
                            raise
            finally:
                self._running.discard(job)
                if self._job_ended is not None:
                    self._job_ended.set()

        self._queue.send_nowait(guarded)
        return job

    async def settle(self) -> None:
        """Wait until every cancelled job has stopped (what it used can be closed then)."""
        while any(job.cancelled for job in self._running):
            self._job_ended = anyio.Event()
            await self._job_ended.wait()


def show_error(parent: QWidget | None, message: str) -> None:
    """A warning that does not block: a modal `exec()` inside a running task would re-enter
    the event loop (qasync refuses to run other tasks from inside one)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "JustMaily", message, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
