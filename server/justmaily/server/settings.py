"""Typed settings, read once at start-up from `JUSTMAILY_*` variables and an optional TOML file.

Precedence: environment > TOML file > defaults. Nothing here runs at import time: the app
factory calls `load_settings()` and injects the result.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import platformdirs
from limits import parse_many

ENV_PREFIX = "JUSTMAILY_"
CONFIG_FILE_VARIABLE = "JUSTMAILY_CONFIG"
# Variables with the prefix that are read elsewhere, not settings.
_NOT_SETTINGS = (CONFIG_FILE_VARIABLE, "JUSTMAILY_TEST_")

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it as the operator wrote it."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    data_dir: str = ""
    # Default: an SQLite file in `data_dir`. `postgresql://…` selects asyncpg.
    database_url: str = ""
    # None: migrate on start-up for the embedded SQLite default, never for PostgreSQL
    # (replicas would race; run `justmaily migrate` once per deploy instead).
    auto_migrate: bool | None = None
    db_pool_size: PositiveInt = 10
    db_max_overflow: Annotated[int, msgspec.Meta(ge=0)] = 10
    db_pool_timeout_seconds: PositiveInt = 30
    db_pool_recycle_seconds: PositiveInt = 1800
    sqlite_busy_timeout_ms: PositiveInt = 5000

    jwt_key_file: str = ""  # Ed25519 private key (PEM); generated with mode 0600 when absent
    access_token_ttl_seconds: PositiveInt = 900
    refresh_token_ttl_seconds: PositiveInt = 30 * 24 * 3600

    rate_limit_per_ip: str = "600/minute"
    rate_limit_per_principal: str = "1200/minute"
    login_failures_per_account: str = "10/15minutes"
    login_failures_per_ip: str = "50/15minutes"
    max_request_bytes: PositiveInt = 1_048_576

    public_api_docs: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    def __post_init__(self) -> None:
        for name in (
            "rate_limit_per_ip",
            "rate_limit_per_principal",
            "login_failures_per_account",
            "login_failures_per_ip",
        ):
            value = getattr(self, name)
            try:
                parse_many(value)
            except ValueError as exc:
                # msgspec turns a ValueError here into a ValidationError at `$`.
                raise ValueError(
                    f"{ENV_PREFIX}{name.upper()}: {value!r} is not a rate such as '100/minute'"
                ) from exc

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir) if self.data_dir else Path(platformdirs.user_data_dir("justmaily"))

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'justmaily.db'}"

    @property
    def jwt_key_path(self) -> Path:
        return Path(self.jwt_key_file) if self.jwt_key_file else self.data_path / "jwt-ed25519.pem"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def migrate_on_startup(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict that is safe to log: secrets masked."""
        values = msgspec.structs.asdict(self)
        values["database_url"] = redact_url(self.effective_database_url)
        return values


def redact_url(url: str) -> str:
    """Hide the password of a URL such as postgresql://user:secret@host/db."""
    scheme, sep, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}"


def _field_names() -> set[str]:
    return {f.name for f in msgspec.structs.fields(Settings)}


def _from_environment(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    fields = _field_names()
    values: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key.startswith(_NOT_SETTINGS):
            continue
        name = key.removeprefix(ENV_PREFIX).lower()
        if name in fields:
            values[name] = value
        else:
            unknown.append(key)
    return values, unknown


def _from_file(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"{CONFIG_FILE_VARIABLE}: no such file {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from exc


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: Path | None = None
) -> tuple[Settings, list[str]]:
    """Build the settings; returns them with the names of unknown `JUSTMAILY_*` variables.

    Raises SettingsError naming the variable (or TOML key) that is wrong.
    """
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get(CONFIG_FILE_VARIABLE):
        config_file = Path(environ[CONFIG_FILE_VARIABLE])
    file_values = _from_file(config_file) if config_file else {}
    unknown_file_keys = sorted(set(file_values) - _field_names())
    if unknown_file_keys:
        raise SettingsError(f"{config_file}: unknown setting(s) {', '.join(unknown_file_keys)}")
    env_values, unknown_env = _from_environment(environ)
    merged: dict[str, Any] = {**file_values, **env_values}
    try:
        settings = msgspec.convert(merged, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_name_the_setting(str(exc), env_values)) from None
    return settings, sorted(unknown_env)


def _name_the_setting(message: str, env_values: Mapping[str, str]) -> str:
    # msgspec says "... - at `$.db_pool_size`"; speak of the variable the operator set.
    reason, _, where = message.rpartition(" - at `$.")
    name = where.rstrip("`")
    if not reason or not name:
        return message.removesuffix(" - at `$`")
    source = f"{ENV_PREFIX}{name.upper()}" if name in env_values else f"setting {name!r}"
    return f"{source}: {reason}"
