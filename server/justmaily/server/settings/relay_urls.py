"""SMTP relay addresses: `smtp://[user:password@]host[:port]` (STARTTLS when the relay offers it)
or `smtps://…` (TLS from the first byte), as `JUSTMAILY_SMTP_RELAYS` lists them and as workspace
admins add them. Where a relay may point is `delivery/relay_addresses.py`'s business."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


class RelayUrlError(ValueError):
    """The relay address cannot be used; the message says why, without the password."""


@dataclass(frozen=True)
class RelayConfig:
    name: str
    host: str
    port: int
    implicit_tls: bool
    username: str = ""
    password: str = field(default="", repr=False)
    priority: int = 100
    max_per_second: float | None = None
    # The operator's relays, or an installation that allows it: may be on this machine or a
    # private network. Otherwise every address is checked when connecting (relay_addresses.py).
    internal_allowed: bool = False

    @property
    def url(self) -> str:
        """The address without credentials: safe to show and log."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


def parse_relay_url(
    url: str, *, name: str = "", priority: int = 100, internal_allowed: bool = False
) -> RelayConfig:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise RelayUrlError(f"not a relay address: {exc}") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise RelayUrlError(f"a relay address starts with smtp:// or smtps://, not {parts.scheme or '…'}://")
    if not parts.hostname:
        raise RelayUrlError("the relay address has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise RelayUrlError("a relay address has no path, query or fragment: smtp://host:port")
    return RelayConfig(
        name=name or parts.hostname,
        host=parts.hostname,
        port=port or _DEFAULT_PORTS[parts.scheme],
        implicit_tls=parts.scheme == "smtps",
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        priority=priority,
        internal_allowed=internal_allowed,
    )


def parse_relay_list(value: str) -> list[RelayConfig]:
    """`JUSTMAILY_SMTP_RELAYS`: comma-separated addresses, tried in the order given. The
    operator's own, so they may point anywhere (an MTA on this machine, a private network)."""
    urls = [item.strip() for item in value.split(",") if item.strip()]
    relays = []
    for index, url in enumerate(urls):
        try:
            name, priority = f"env-{index + 1}", 1000 + index
            relays.append(parse_relay_url(url, name=name, priority=priority, internal_allowed=True))
        except RelayUrlError as exc:
            raise RelayUrlError(f"relay {index + 1} of JUSTMAILY_SMTP_RELAYS: {exc}") from None
    return relays
