"""The settings: one Struct per concern, each handed to what it configures.

Every field keeps the name of its `JUSTMAILY_*` variable (and TOML key) as its encoded name, so
`JUSTMAILY_ROOM_SILENT_SECONDS` is `settings.rooms.silent_seconds`. Each section checks its own
values; a failed check says the setting's name first, which `loading.py` turns into the
variable or key the operator wrote.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
import platformdirs
from limits import parse_many

from justmaily.server.settings.relay_urls import RelayUrlError, parse_relay_list

# Where `justmaily serve` listens unless told otherwise.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
# What the engine accepts (see db/engine.py).
_DATABASE_SCHEMES = frozenset({"sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg"})
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]


def _as(name: str, default: Any) -> Any:
    """A field whose setting is named `name` (its variable: JUSTMAILY_<NAME>)."""
    return msgspec.field(default=default, name=name)


class DatabaseSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Default: an SQLite file in `data_dir`. `postgresql://…` selects asyncpg.
    url: str = _as("database_url", "")
    # None: migrate on start-up for the embedded SQLite default, never for PostgreSQL
    # (replicas would race; run `justmaily migrate` once per deploy instead).
    auto_migrate: bool | None = None
    pool_size: PositiveInt = _as("db_pool_size", 10)
    max_overflow: Annotated[int, msgspec.Meta(ge=0)] = _as("db_max_overflow", 10)
    pool_timeout_seconds: PositiveInt = _as("db_pool_timeout_seconds", 30)
    pool_recycle_seconds: PositiveInt = _as("db_pool_recycle_seconds", 1800)
    sqlite_busy_timeout_ms: PositiveInt = 5000

    def __post_init__(self) -> None:
        if self.url:
            _check_database_url(self.url)


class HttpSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    rate_limit_per_ip: str = "600/minute"
    rate_limit_per_principal: str = "1200/minute"
    # Addresses or networks (comma-separated, e.g. "10.0.0.0/8,::1") of reverse proxies whose
    # X-Forwarded-For and X-Forwarded-Proto are believed. Empty: none; the peer's address counts.
    trusted_proxies: str = ""
    max_request_bytes: PositiveInt = 1_048_576
    public_api_docs: bool = False
    # Server processes on this machine (`justmaily serve`); 0: one per core (docs/design/processes.md).
    workers: Annotated[int, msgspec.Meta(ge=0, le=256)] = 0

    def __post_init__(self) -> None:
        _check_rate("rate_limit_per_ip", self.rate_limit_per_ip)
        _check_rate("rate_limit_per_principal", self.rate_limit_per_principal)
        _check_networks("trusted_proxies", self.trusted_proxies)


class IdentitySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    jwt_key_file: str = ""  # Ed25519 private key (PEM); generated with mode 0600 when absent
    access_token_ttl_seconds: PositiveInt = 900
    refresh_token_ttl_seconds: PositiveInt = 30 * 24 * 3600
    # Failed sign-ins lock the source, not the account: per account from one client address, and
    # per client address over all accounts (docs/security.md). The owner, elsewhere, still gets in.
    login_failures_per_account_and_ip: str = "10/15minutes"
    login_failures_per_ip: str = "50/15minutes"
    # How long an invitation's token can be redeemed (docs/security.md).
    invitation_ttl_seconds: PositiveInt = 7 * 24 * 3600

    def __post_init__(self) -> None:
        _check_rate("login_failures_per_account_and_ip", self.login_failures_per_account_and_ip)
        _check_rate("login_failures_per_ip", self.login_failures_per_ip)


class RoomSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Collaboration rooms (docs/collaboration.md)."""

    ticket_ttl_seconds: PositiveInt = _as("room_ticket_ttl_seconds", 60)
    max_message_bytes: PositiveInt = _as("room_max_message_bytes", 2_097_152)
    # A document's whole encoded size (texts, comments, history): an update past it is refused.
    max_document_bytes: PositiveInt = _as("room_max_document_bytes", 8_388_608)
    message_rate: str = _as("room_message_rate", "200/second;6000/minute")
    silent_seconds: PositiveSeconds = _as("room_silent_seconds", 45.0)  # clients renew presence every 15 s
    idle_unload_seconds: PositiveSeconds = _as("room_idle_unload_seconds", 60.0)
    compact_after_updates: PositiveInt = _as("room_compact_after_updates", 500)
    # Per-message deflate compresses every copy of a message separately (each connection keeps
    # its own compression context): off unless bandwidth is dearer than CPU (docs/collaboration.md).
    deflate: bool = _as("room_deflate", False)

    def __post_init__(self) -> None:
        _check_rate("room_message_rate", self.message_rate)


class DeliverySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Sending (docs/delivery.md)."""

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
    # A running send whose complaints pass this share of its delivered messages is paused (Gmail's
    # bulk-sender limit is 0.3 %), once it delivered at least `complaint_min_delivered`.
    complaint_pause_rate: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.003
    complaint_min_delivered: PositiveInt = 1000
    send_retry_seconds: PositiveSeconds = 60.0  # first retry; doubles, with jitter, to 6 hours
    relay_failures_to_open: PositiveInt = 5  # failures in a row that open a relay's breaker
    relay_cooldown_seconds: PositiveSeconds = 10.0  # until its half-open probe
    # How long a double opt-in link works after its e-mail went out; the expired page offers a new one.
    confirmation_link_ttl_seconds: PositiveInt = 7 * 24 * 3600
    secrets_key_file: str = ""  # seals relay passwords and DKIM keys; default data_dir/secrets.key
    sender_enabled: bool = True  # run the sending worker in this process
    # An A/B test's subject wins by its metric only if its posterior probability of being the
    # best reaches this; below it the original subject is kept (docs/delivery.md).
    ab_test_confidence: Annotated[float, msgspec.Meta(ge=0.5, lt=1.0)] = 0.95

    def __post_init__(self) -> None:
        if self.smtp_relays:
            try:
                parse_relay_list(self.smtp_relays)
            except RelayUrlError as exc:
                raise ValueError(f"smtp_relays: {exc}") from None


class TrustSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The transparency log (docs/trust.md): its Ed25519 key (default data_dir/log-ed25519.key;
    every replica needs the same one), the origin line of its checkpoints (default: the public
    URL's host and path + "/transparency"), how often a new tree head is signed, and the internal
    CA (ca.key, ca.pem) that certifies approvals (every replica needs the same one)."""

    log_key_file: str = ""
    ca_dir: str = ""
    log_origin: str = ""
    log_publish_seconds: PositiveSeconds = 5.0


class ProtectionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the key-encryption key (KEK) lives (docs/data-protection.md): `local` key files
    (default data_dir/keks/kek-<version>.key, mode 0600; every replica needs the same folder) or a
    `pkcs11` token, whose PIN is read from a file so it is in neither the environment nor the
    configuration file."""

    key_provider: Literal["local", "pkcs11"] = "local"
    kek_dir: str = ""
    pkcs11_library: str = ""  # e.g. /usr/lib/softhsm/libsofthsm2.so
    pkcs11_token_label: str = ""
    pkcs11_pin_file: str = ""
    pkcs11_key_label: str = "justmaily-kek"  # the KEKs are <label>-1, <label>-2, …

    def __post_init__(self) -> None:
        if self.key_provider == "pkcs11":
            for name in ("pkcs11_library", "pkcs11_token_label", "pkcs11_pin_file"):
                if not getattr(self, name):
                    raise ValueError(f"{name}: required when key_provider is pkcs11")


class OpsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Operations (docs/operations.md): the token Prometheus scrapes `/metrics` with (default
    data_dir/metrics.token, made 0600 on first start), the SLO file (default: the shipped
    ops/slos.toml), how often each process stores its indicator counts and samples gauges, and
    the retention policies."""

    metrics_token_file: str = ""
    slo_file: str = ""
    sample_seconds: PositiveSeconds = _as("ops_sample_seconds", 15.0)
    # How long each kind of record is kept (default: the shipped ops/retention.toml), and how
    # often each process looks for a purge that is due (a purge runs once a day).
    retention_file: str = ""
    retention_check_seconds: PositiveSeconds = 3600.0
    # The key that seals backups (default data_dir/backup.key, made 0600 at the first backup):
    # keep a copy apart from the backups, or they cannot be restored.
    backup_key_file: str = ""
    # Where the server's own SLO alerts go (ops/alerts.py): comma-separated addresses (default:
    # every workspace's owners), sent through JUSTMAILY_SMTP_RELAYS' first relay from
    # `alert_from`; and a webhook that receives each alert as JSON (none by default).
    alert_emails: str = ""
    alert_from: str = "alerts@justmaily.invalid"
    alert_webhook_url: str = ""
    alert_check_seconds: PositiveSeconds = 60.0


class MeshSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The agent mesh (docs/mesh.md): on SQLite its agents run inside the server process."""

    enabled: bool = _as("mesh_enabled", True)
    agents_per_kind: PositiveInt = _as("mesh_agents_per_kind", 1)
    # Worker processes the agents' analyses run in (0: threads of the server process; docs/mesh.md).
    processes: Annotated[int, msgspec.Meta(ge=0)] = _as("mesh_processes", 0)
    # A document change waits this long for the next before the agents look (typing goes on).
    debounce_seconds: PositiveSeconds = _as("mesh_debounce_seconds", 1.0)
    task_timeout_seconds: PositiveSeconds = _as("mesh_task_timeout_seconds", 10.0)
    attempts: PositiveInt = _as("mesh_attempts", 2)  # per agent, with backoff, before the next agent
    breaker_open_seconds: PositiveSeconds = _as("mesh_breaker_open_seconds", 30.0)
    heartbeat_seconds: PositiveSeconds = _as("mesh_heartbeat_seconds", 10.0)


class LogSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _as("log_level", "INFO")
    format: Literal["json", "console"] = _as("log_format", "json")


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    data_dir: str = ""
    # The address recipients' links point to (tracking, unsubscribe) and room tickets name: https,
    # except on a loopback host for trying things out. Left at the default, `justmaily serve`
    # points it to the address it listens on (cli.py).
    public_url: str = DEFAULT_PUBLIC_URL
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    http: HttpSettings = msgspec.field(default_factory=HttpSettings)
    identity: IdentitySettings = msgspec.field(default_factory=IdentitySettings)
    rooms: RoomSettings = msgspec.field(default_factory=RoomSettings)
    delivery: DeliverySettings = msgspec.field(default_factory=DeliverySettings)
    trust: TrustSettings = msgspec.field(default_factory=TrustSettings)
    protection: ProtectionSettings = msgspec.field(default_factory=ProtectionSettings)
    mesh: MeshSettings = msgspec.field(default_factory=MeshSettings)
    logs: LogSettings = msgspec.field(default_factory=LogSettings)
    ops: OpsSettings = msgspec.field(default_factory=OpsSettings)

    def __post_init__(self) -> None:
        _check_public_url(self.public_url)

    @classmethod
    def of(cls, **values: Any) -> Settings:
        """Settings from values named as their variables are (`database_url=…`, `room_silent_seconds=…`),
        the rest at their defaults; values are taken strictly, as code gives them."""
        return from_flat(values, strict=True)

    def replaced(self, **values: Any) -> Settings:
        """These settings with some values changed (named as in `of`)."""
        return from_flat({**self.flat(), **values}, strict=True)

    def flat(self) -> dict[str, Any]:
        """Every setting by its name (as its variable and TOML key have it)."""
        values: dict[str, Any] = {"data_dir": self.data_dir, "public_url": self.public_url}
        for section in SECTIONS:
            values.update(msgspec.to_builtins(getattr(self, section)))
        return values

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir) if self.data_dir else Path(platformdirs.user_data_dir("justmaily"))

    @property
    def effective_database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_path / 'justmaily.db'}"

    @property
    def jwt_key_path(self) -> Path:
        key_file = self.identity.jwt_key_file
        return Path(key_file) if key_file else self.data_path / "jwt-ed25519.pem"

    @property
    def secrets_key_path(self) -> Path:
        key_file = self.delivery.secrets_key_file
        return Path(key_file) if key_file else self.data_path / "secrets.key"

    @property
    def backup_key_path(self) -> Path:
        key_file = self.ops.backup_key_file
        return Path(key_file) if key_file else self.data_path / "backup.key"

    @property
    def metrics_token_path(self) -> Path:
        key_file = self.ops.metrics_token_file
        return Path(key_file) if key_file else self.data_path / "metrics.token"

    @property
    def log_key_path(self) -> Path:
        key_file = self.trust.log_key_file
        return Path(key_file) if key_file else self.data_path / "log-ed25519.key"

    @property
    def kek_path(self) -> Path:
        return Path(self.protection.kek_dir) if self.protection.kek_dir else self.data_path / "keks"

    @property
    def ca_path(self) -> Path:
        return Path(self.trust.ca_dir) if self.trust.ca_dir else self.data_path

    @property
    def effective_log_origin(self) -> str:
        if self.trust.log_origin:
            return self.trust.log_origin
        parts = urlsplit(self.public_url)
        return f"{parts.netloc}{parts.path.rstrip('/')}/transparency"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def migrate_on_startup(self) -> bool:
        auto = self.database.auto_migrate
        return self.is_sqlite if auto is None else auto

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict that is safe to log: secrets masked."""
        values = self.flat()
        values["database_url"] = redact_url(self.effective_database_url)
        relays = (url.strip() for url in self.delivery.smtp_relays.split(","))
        values["smtp_relays"] = ",".join(redact_url(url) for url in relays if url)
        return values


SECTIONS = ("database", "http", "identity", "rooms", "delivery", "trust", "protection", "mesh", "logs", "ops")
_ROOT_NAMES = frozenset({"data_dir", "public_url"})


@functools.cache
def setting_names() -> dict[str, str]:
    """Each setting's name (its variable's, lower case) -> the section holding it ("": the root)."""
    names = dict.fromkeys(_ROOT_NAMES, "")
    for field in msgspec.structs.fields(Settings):
        if field.name in SECTIONS:
            names.update(
                dict.fromkeys((f.encode_name for f in msgspec.structs.fields(field.type)), field.name)
            )
    return names


def from_flat(values: dict[str, Any], *, strict: bool) -> Settings:
    """Settings from values by setting name; `strict=False` takes text as the environment gives
    it ("30" for a number). Raises msgspec.ValidationError naming the setting (`$.name`), or a
    ValueError from a check that starts with it."""
    names = setting_names()
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise msgspec.ValidationError(f"unknown setting(s) {', '.join(unknown)} - at `$.{unknown[0]}`")
    nested: dict[str, Any] = {section: {} for section in SECTIONS}
    for name, value in values.items():
        section = names[name]
        if section:
            nested[section][name] = value
        else:
            nested[name] = value
    return msgspec.convert(nested, Settings, strict=strict)


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
