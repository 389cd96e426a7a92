"""Typed settings, read once at start-up from `JUSTMAILY_*` variables and an optional TOML file.

Precedence: environment > TOML file > defaults. Nothing here runs at import time: the app
factory calls `load_settings()` and injects the result.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
import platformdirs
from limits import parse_many

ENV_PREFIX = "JUSTMAILY_"
CONFIG_FILE_VARIABLE = "JUSTMAILY_CONFIG"
# Variables with the prefix that are read elsewhere, not settings (the test suite's own).
_NOT_SETTINGS_PREFIX = "JUSTMAILY_TEST_"
# What the engine accepts (see db/engine.py).
_DATABASE_SCHEMES = frozenset({"sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg"})
_RATE_SETTINGS = (
    "rate_limit_per_ip",
    "rate_limit_per_principal",
    "login_failures_per_account_and_ip",
    "login_failures_per_ip",
    "room_message_rate",
)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)

# Where `justmaily serve` listens unless told otherwise.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]


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
    # Failed sign-ins lock the source, not the account: per account from one client address, and
    # per client address over all accounts (docs/security.md). The owner, elsewhere, still gets in.
    login_failures_per_account_and_ip: str = "10/15minutes"
    login_failures_per_ip: str = "50/15minutes"
    # Addresses or networks (comma-separated, e.g. "10.0.0.0/8,::1") of reverse proxies whose
    # X-Forwarded-For and X-Forwarded-Proto are believed. Empty: none; the peer's address counts.
    trusted_proxies: str = ""
    max_request_bytes: PositiveInt = 1_048_576
    # How long an invitation's token can be redeemed (docs/security.md).
    invitation_ttl_seconds: PositiveInt = 7 * 24 * 3600

    # Collaboration rooms (see docs/collaboration.md).
    room_ticket_ttl_seconds: PositiveInt = 60
    room_max_message_bytes: PositiveInt = 2_097_152
    # A document's whole encoded size (texts, comments, history): an update past it is refused.
    room_max_document_bytes: PositiveInt = 8_388_608
    room_message_rate: str = "200/second;6000/minute"
    room_silent_seconds: PositiveSeconds = 45.0  # clients renew presence every 15 s
    room_idle_unload_seconds: PositiveSeconds = 60.0
    room_compact_after_updates: PositiveInt = 500

    # Delivery (see docs/delivery.md). The address recipients' links point to (tracking,
    # unsubscribe): https, except on a loopback host for trying things out. Left at the default,
    # `justmaily serve` points them to the address it listens on (cli.py).
    public_url: str = DEFAULT_PUBLIC_URL
    # Comma-separated smtp:// or smtps:// relay URLs (credentials allowed), tried after the
    # relays a workspace's admins add through the API.
    smtp_relays: str = ""
    # Relays that workspace admins add may point at loopback, link-local or private addresses
    # (a test sink, a demo): off by default, so the API cannot be used to probe internal networks.
    smtp_allow_private_relays: bool = False
    # Concurrent SMTP transactions of the sending process: each waits for round trips and for its
    # hand-off's commit, so more connections hide latency. To a local pipelining sink: 32 ~700,
    # 64 ~900, 128 ~1,000 msg/s (docs/delivery.md). 16 is what most relays accept from one client.
    smtp_connections: PositiveInt = 16
    smtp_timeout_seconds: PositiveSeconds = 30.0
    # 0 = no limit. The per-domain limit protects receivers (and our reputation) from bursts.
    send_rate_per_second: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    send_rate_per_domain: Annotated[float, msgspec.Meta(ge=0)] = 200.0
    send_max_attempts: PositiveInt = 8
    send_retry_seconds: PositiveSeconds = 60.0  # first retry; doubles, with jitter, to 6 hours
    relay_failures_to_open: PositiveInt = 5  # failures in a row that open a relay's breaker
    relay_cooldown_seconds: PositiveSeconds = 10.0  # until its half-open probe
    # How long a double opt-in link works after its e-mail went out; the expired page offers a new one.
    confirmation_link_ttl_seconds: PositiveInt = 7 * 24 * 3600
    secrets_key_file: str = ""  # seals relay passwords and DKIM keys; default data_dir/secrets.key
    sender_enabled: bool = True  # run the sending worker in this process

    # The transparency log (see docs/trust.md): its Ed25519 key (default data_dir/log-ed25519.key;
    # every replica needs the same one), the origin line of its checkpoints (default: the
    # public URL's host and path + "/transparency"), and how often a new tree head is signed.
    log_key_file: str = ""
    # The internal CA (ca.key, ca.pem) that certifies approvals; every replica needs the same one.
    ca_dir: str = ""
    log_origin: str = ""
    log_publish_seconds: PositiveSeconds = 5.0

    public_api_docs: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    def __post_init__(self) -> None:
        # msgspec turns a ValueError here into a ValidationError with no location, so the message
        # starts with the field's name; load_settings swaps it for the variable or TOML key.
        for name in _RATE_SETTINGS:
            _check_rate(name, getattr(self, name))
        if self.database_url:
            _check_database_url(self.database_url)
        _check_networks("trusted_proxies", self.trusted_proxies)
        _check_public_url(self.public_url)
        if self.smtp_relays:
            from justmaily.server.delivery.relays import RelayUrlError, parse_relay_list

            try:
                parse_relay_list(self.smtp_relays)
            except RelayUrlError as exc:
                raise ValueError(f"smtp_relays: {exc}") from None

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
    def secrets_key_path(self) -> Path:
        return Path(self.secrets_key_file) if self.secrets_key_file else self.data_path / "secrets.key"

    @property
    def log_key_path(self) -> Path:
        return Path(self.log_key_file) if self.log_key_file else self.data_path / "log-ed25519.key"

    @property
    def ca_path(self) -> Path:
        return Path(self.ca_dir) if self.ca_dir else self.data_path

    @property
    def effective_log_origin(self) -> str:
        if self.log_origin:
            return self.log_origin
        parts = urlsplit(self.public_url)
        return f"{parts.netloc}{parts.path.rstrip('/')}/transparency"

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
        relays = (url.strip() for url in self.smtp_relays.split(","))
        values["smtp_relays"] = ",".join(redact_url(url) for url in relays if url)
        return values


def _check_public_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"public_url: {url!r} is not an address such as https://mail.example.com")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "::1", "localhost"):
        # RFC 8058: one-click unsubscribe URLs must be https; mail clients ignore others.
        raise ValueError(f"public_url: {url!r} must use https (http only on a loopback address)")


def _check_networks(name: str, value: str) -> None:
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not an IP address or network such as 10.0.0.0/8") from None


def _check_rate(name: str, value: str) -> None:
    try:
        rates = parse_many(value)
    except ValueError:
        rates = []
    if not rates:
        raise ValueError(f"{name}: {value!r} is not a rate such as '100/minute'")
    if any(rate.amount < 1 for rate in rates):
        raise ValueError(f"{name}: {value!r} would refuse every request; the amount must be at least 1")


def _check_database_url(url: str) -> None:
    # Parsed as the engine will parse it, so that a bad URL is a setting error, not a traceback.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        drivername = make_url(url).drivername
    except (ArgumentError, ValueError):
        drivername = ""
    if drivername not in _DATABASE_SCHEMES:
        raise ValueError(f"database_url: {redact_url(url)!r} is not a sqlite:// or postgresql:// URL")


def redact_url(url: str) -> str:
    """Hide the password of a URL such as postgresql://user:secret@host/db (or ?password=secret)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    # The credentials end at the last "@" before the query; the password itself may hold "@" or "?".
    first_at = rest.find("@")
    query = rest.find("?", first_at + 1) if first_at >= 0 else -1
    at = rest.rfind("@", 0, query if query >= 0 else len(rest))
    if at >= 0:
        user, colon, _password = rest[:at].partition(":")
        if colon and "/" not in user:
            rest = f"{user}:***{rest[at:]}"
    masked = _QUERY_PASSWORD.sub(r"\1***", rest)
    return f"{scheme}://{masked}"


def _field_names() -> set[str]:
    return {f.name for f in msgspec.structs.fields(Settings)}


def _from_environment(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    fields = _field_names()
    values: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == CONFIG_FILE_VARIABLE:
            continue
        if key.startswith(_NOT_SETTINGS_PREFIX):
            continue
        # Exactly JUSTMAILY_<FIELD IN CAPITALS>: errors then name the variable as it was written.
        name = key.removeprefix(ENV_PREFIX).lower()
        if name in fields and key == f"{ENV_PREFIX}{name.upper()}":
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
    unknown_file_keys = sorted(set(file_values) - _field_names())
    if unknown_file_keys:
        raise SettingsError(f"{config_file}: unknown setting(s) {', '.join(unknown_file_keys)}")
    env_values, unknown_env = _from_environment(environ)
    merged: dict[str, Any] = {**file_values, **env_values}
    try:
        settings = msgspec.convert(merged, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_name_the_setting(str(exc), env_values, config_file)) from None
    return settings, sorted(unknown_env)


def _name_the_setting(message: str, env_values: Mapping[str, str], config_file: Path | None) -> str:
    # msgspec says "... - at `$.db_pool_size`"; a check in __post_init__ raises "db_pool_size: ..."
    # with no location. Speak of the variable or TOML key the operator wrote.
    reason, marker, where = message.rpartition(" - at `$")
    if not marker:
        reason, where = message, ""
    name = where.rstrip("`").removeprefix(".")
    if not name:
        name, sep, rest = reason.partition(": ")
        if not sep or name not in _field_names():
            return reason
        reason = rest
    if name in env_values:
        source = f"{ENV_PREFIX}{name.upper()}"
    else:
        source = f"setting {name!r}" + (f" in {config_file}" if config_file else "")
    return f"{source}: {reason}"
