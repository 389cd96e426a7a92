"""deploy/compose/compose.yaml against the Compose specification (check-jsonschema's copy of its
schema, offline) and the properties the single-host deployment relies on."""

from __future__ import annotations

import os
from typing import Any

import yaml

from justmaily.server.cli import cli
from justmaily.server.settings.model import setting_names
from tests.deploy.tools import BIN, DEPLOY, run

COMPOSE = DEPLOY / "compose" / "compose.yaml"


def services() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())  # resolves the `<<: *server` merges
    return dict(loaded["services"])


def test_the_compose_file_follows_the_compose_specification() -> None:
    run(
        BIN / "check-jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        COMPOSE,
        env={"PATH": os.environ.get("PATH", "")},
    )


def test_two_server_replicas_run_after_the_migration_against_postgresql() -> None:
    found = services()
    servers = {name: spec for name, spec in found.items() if spec.get("command") is None and "build" in spec}
    assert sorted(servers) == ["server-1", "server-2"]
    assert found["migrate"]["command"] == ["migrate"]
    assert found["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for spec in servers.values():
        assert spec["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        environment = spec["environment"]
        assert environment["JUSTMAILY_DATABASE_URL"].startswith("postgresql://")
        assert environment["JUSTMAILY_AUTO_MIGRATE"] == "false"


def test_every_service_of_ours_is_hardened_and_holds_no_secret() -> None:
    known = {f"JUSTMAILY_{name.upper()}" for name in setting_names()}
    for name, spec in services().items():
        if name == "postgres":
            continue
        assert spec["read_only"] is True, name
        assert spec["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in spec["security_opt"], name
        if "build" in spec:
            assert spec["user"] == "10001:10001", name
            assert any(mount.startswith("/tmp") for mount in spec["tmpfs"]), name
            for variable, value in spec["environment"].items():
                assert variable in known, f"{name}: {variable} is not a JustMaily setting"
                assert "password" not in str(value).lower() or "${" in str(value), (name, variable)


def test_the_commands_exist() -> None:
    for spec in services().values():
        if "build" in spec and spec.get("command"):
            assert spec["command"][0] in cli.commands
