"""Fixtures live in tests/plugins, one module per concern, loaded here for the whole suite."""

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.plugins.postgres",
    "tests.plugins.database",
    "tests.plugins.api",
    "tests.plugins.server_process",
    "tests.plugins.live_server",
    "tests.plugins.desktop",
    "tests.plugins.smtp",
]

_HEADLESS_DIRS = tuple(Path(__file__).parent / name for name in ("server", "shared"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `headless` the server's and shared code's tests that need no PostgreSQL: `just test`
    runs them once, in the environment without Qt (which proves the server headless), and
    everything else in the full one."""
    for item in items:
        in_server_dirs = any(item.path.is_relative_to(folder) for folder in _HEADLESS_DIRS)
        if in_server_dirs and item.get_closest_marker("postgres") is None:
            item.add_marker(pytest.mark.headless)
