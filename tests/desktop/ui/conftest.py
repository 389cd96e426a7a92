"""The UI tests run inside Qt's event loop: pytest-asyncio gets qasync's loop for this folder."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest
import qasync
from PySide6.QtWidgets import QApplication


def _qt_loop() -> asyncio.AbstractEventLoop:
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)  # closing a test's windows must not stop the loop
    loop: asyncio.AbstractEventLoop = qasync.QEventLoop(app)
    return loop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"qt": _qt_loop}
