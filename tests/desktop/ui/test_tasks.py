"""Background work of the UI (`desktop/ui/tasks.py`) with real widgets inside Qt's loop."""

from __future__ import annotations

import anyio
import pytest
import shiboken6
from PySide6.QtWidgets import QLabel, QWidget
from pytestqt.qtbot import QtBot

from justmaily.desktop.ui.tasks import Tasks


async def test_work_resuming_after_its_widget_was_deleted_ends_quietly(qtbot: QtBot) -> None:
    """The reply arrives and the tab closes in the same turn of the loop: anyio delivers the
    cancellation only after the task has resumed, so the work meets deleted widgets."""
    errors: list[str] = []
    reply = anyio.Event()
    touched: list[str] = []
    async with anyio.create_task_group() as group:
        tasks = Tasks(group, errors.append)
        editor = QWidget()
        status = QLabel(editor)

        async def refresh() -> None:
            await reply.wait()
            touched.append("resumed")
            status.setText("Status: approved")  # its C++ object is gone by now

        job = tasks.spawn(refresh, owner=editor)
        await anyio.sleep(0.05)  # waiting for the reply
        reply.set()  # the reply is in: the task will resume on the next turn
        shiboken6.delete(editor)  # ...but the tab closes first
        assert job.cancelled
        await anyio.sleep(0.05)
        group.cancel_scope.cancel()
    assert touched == ["resumed"]  # it did resume into the deleted widget, and that was no crash
    assert errors == []


async def test_work_of_a_live_widget_still_reports_deleted_widgets(qtbot: QtBot) -> None:
    """Only work whose owner went away is quiet: live work touching a deleted widget is a bug."""
    editor, orphan = QWidget(), QLabel()
    shiboken6.delete(orphan)

    async def refresh() -> None:
        orphan.setText("x")

    async def run() -> None:
        async with anyio.create_task_group() as group:
            Tasks(group, print).spawn(refresh, owner=editor)
            await anyio.sleep(0.05)
            group.cancel_scope.cancel()

    with pytest.raises(ExceptionGroup) as raised:
        await run()
    assert "already deleted" in str(raised.value.exceptions[0])
