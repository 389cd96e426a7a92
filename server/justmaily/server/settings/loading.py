"""Reading the settings, once at start-up, from `JUSTMAILY_*` variables and an optional TOML file.

Precedence: environment > TOML file > defaults. Nothing here runs at import time: the CLI calls
`load_settings()` and hands the result to the app factory. An error names the variable (or TOML
key) as the operator wrote it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from justmaily.server.settings.model import Settings, from_flat, setting_names

ENV_PREFIX = "JUSTMAILY_"
CONFIG_FILE_VARIABLE = "JUSTMAILY_CONFIG"
# Variables with the prefix that are read elsewhere, not settings (the test suite's own).
_NOT_SETTINGS_PREFIX = "JUSTMAILY_TEST_"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it as the operator wrote it."""


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: Path | None = None
) -> tuple[Settings, list[str]]:
    """Build the settings; returns them with the names of unknown `JUSTMAILY_*` variables.

    Raises SettingsError naming the variable (or TOML key) that is wrong.
    """
    environ = os.environ if environ is None else environ
    source = "config file"
    if config_file is None and environ.get(CONFIG_FILE_VARIABLE):
        config_file, source = Path(environ[CONFIG_FILE_VARIABLE]), CONFIG_FILE_VARIABLE
    file_values = _from_file(config_file, source) if config_file else {}
    unknown_file_keys = sorted(set(file_values) - set(setting_names()))
    if unknown_file_keys:
        raise SettingsError(f"{config_file}: unknown setting(s) {', '.join(unknown_file_keys)}")
    env_values, unknown_env = _from_environment(environ)
    try:
        settings = from_flat({**file_values, **env_values}, strict=False)
    except (msgspec.ValidationError, ValueError) as exc:
        raise SettingsError(_name_the_setting(str(exc), env_values, config_file)) from None
    return settings, sorted(unknown_env)


def _from_environment(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    names = setting_names()
    values: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == CONFIG_FILE_VARIABLE:
            continue
        if key.startswith(_NOT_SETTINGS_PREFIX):
            continue
        # Exactly JUSTMAILY_<SETTING IN CAPITALS>: errors then name the variable as it was written.
        name = key.removeprefix(ENV_PREFIX).lower()
        if name in names and key == f"{ENV_PREFIX}{name.upper()}":
            values[name] = value
        else:
            unknown.append(key)
    return values, unknown


def _from_file(path: Path, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"{source}: no such file {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{source}: cannot read {path} ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from exc


def _name_the_setting(message: str, env_values: Mapping[str, str], config_file: Path | None) -> str:
    # msgspec says "... - at `$.rooms.room_silent_seconds`"; a section's check raises
    # "room_message_rate: ..." (at the section, or with no location). Speak of the variable or
    # TOML key the operator wrote.
    names = setting_names()
    reason, marker, where = message.rpartition(" - at `$")
    if not marker:
        reason, where = message, ""
    name = where.rstrip("`").rpartition(".")[2]
    if name not in names:
        name, sep, rest = reason.partition(": ")
        if not sep or name not in names:
            return reason
        reason = rest
    if name in env_values:
        source = f"{ENV_PREFIX}{name.upper()}"
    else:
        source = f"setting {name!r}" + (f" in {config_file}" if config_file else "")
    return f"{source}: {reason}"
