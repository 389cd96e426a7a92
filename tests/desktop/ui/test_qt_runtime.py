"""Defects of the Qt bindings that the desktop cannot live with, pinned so an upgrade shows them."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication


class _Emitter(QObject):
    fired = Signal()


def test_signals_delivered_to_python_keep_reference_counts(qapp: QApplication) -> None:
    """PySide6 6.12.0 drops a reference to True per signal delivered to a Python slot; qasync
    emits one per callback from another thread (every aiosqlite call), so an editing session
    ends in "Fatal Python error: bool_dealloc". pyproject.toml keeps PySide6 below 6.12."""
    emitter = _Emitter()
    emitter.fired.connect(lambda: None)
    before = sys.getrefcount(True)
    for _ in range(1000):
        emitter.fired.emit()
    assert abs(sys.getrefcount(True) - before) < 10  # the defect loses 1,000
