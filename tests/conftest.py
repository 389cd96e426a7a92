"""Fixtures live in tests/plugins, one module per concern, loaded here for the whole suite."""

pytest_plugins = [
    "tests.plugins.postgres",
    "tests.plugins.database",
    "tests.plugins.api",
    "tests.plugins.server_process",
    "tests.plugins.live_server",
    "tests.plugins.desktop",
    "tests.plugins.smtp",
]
