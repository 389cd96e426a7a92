"""Where a workspace's relay may point: the internet, not this machine or its private networks.

A relay address is chosen by a workspace admin, and the sender connects wherever it says: to
169.254.169.254 (a cloud's metadata service), 127.0.0.1:5432 or 10.0.0.5:25 that would make the
server a probe of networks only it can reach. So loopback, link-local, private, shared and
reserved addresses are refused, unless the installation allows them
(`JUSTMAILY_SMTP_ALLOW_PRIVATE_RELAYS`, e.g. for a test sink on loopback). Checked twice:
- when the relay is added (`refuse_internal`): the host as written, however it is written
  (`2130706433`, `0x7f000001`, `0177.1` are all 127.0.0.1), and what its name resolves to now;
- when the sender connects (`connect_checked`): names are resolved again (DNS may have changed),
  every address checked, and the connection made to a checked address, never to the name.
The operator's own relays (`JUSTMAILY_SMTP_RELAYS`) are trusted and may be anywhere.
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

import anyio

_NAT64 = IPv6Network("64:ff9b::/96")  # IPv4 addresses as a NAT64 gateway reaches them
_LOOKUP_SECONDS = 3.0


class InternalAddressError(Exception):
    """The relay points at an address that is not on the internet; the message says which."""


def literal_address(host: str) -> IPv4Address | IPv6Address | None:
    """The address a host written as an IP literal means, in any form the resolver accepts
    (dotted, shortened, decimal, octal, hex); None for a name."""
    try:
        return ip_address(host)
    except ValueError:
        pass
    try:
        # The C library's inet_aton: what getaddrinfo, and so the connection, would make of it.
        return IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def is_internal(address: IPv4Address | IPv6Address) -> bool:
    """Not an address on the internet: loopback, private, link-local, shared, reserved, multicast."""
    if isinstance(address, IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_internal(embedded)
    return not address.is_global or address.is_multicast


def check_host(host: str) -> None:
    """Refuse a host that is, as written, an internal address or a loopback name."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        raise InternalAddressError(f"{host} is this machine")
    address = literal_address(host.split("%", 1)[0])
    if address is not None and is_internal(address):
        raise InternalAddressError(f"{host} is an internal address ({address})")


async def resolve_checked(
    host: str, port: int, *, internal_allowed: bool = False
) -> list[tuple[int, int, int, tuple[object, ...]]]:
    """Every address `host` resolves to (family, type, proto, sockaddr), each checked unless
    internal ones are allowed."""
    if not internal_allowed:
        check_host(host)
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found = []
    for family, kind, proto, _, sockaddr in infos:
        address = ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not internal_allowed and is_internal(address):
            raise InternalAddressError(f"{host} resolves to an internal address ({address})")
        found.append((int(family), int(kind), proto, tuple(sockaddr)))
    return found


async def refuse_internal(host: str, port: int) -> None:
    """At the API: refuse a relay that points inside. A name that does not resolve now is let
    through (its DNS may come later): the sender checks it again when it connects."""
    check_host(host)
    if literal_address(host.split("%", 1)[0]) is not None:
        return
    try:
        with anyio.fail_after(_LOOKUP_SECONDS):
            await resolve_checked(host, port)
    except (OSError, TimeoutError):
        return


async def connect_checked(host: str, port: int, *, internal_allowed: bool) -> socket.socket:
    """A TCP connection to the first address of `host` that answers, all of them checked first
    (unless internal ones are allowed): the connection goes to an address that was checked,
    never to the name again. The caller bounds the time."""
    last_error: OSError = OSError(f"{host} has no address")
    loop = asyncio.get_running_loop()
    for family, kind, proto, sockaddr in await resolve_checked(host, port, internal_allowed=internal_allowed):
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise last_error
