"""Which webhook URLs the worker may call (SSRF): checked at create and update, and again
before every delivery, which then connects to the very address checked (a name that
resolves elsewhere later, DNS rebinding, gains nothing).

- The scheme is https; http only with VPSORG_WEBHOOKS_ALLOW_HTTP=1.
- The host is resolved and EVERY address it resolves to must be allowed:
  - loopback (127.0.0.0/8, ::1): only with VPSORG_WEBHOOKS_ALLOW_HTTP=1 (development and
    tests: a receiver on the same machine) or VPSORG_WEBHOOKS_ALLOW_PRIVATE=1;
  - private and other non-public unicast (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7,
    documentation ranges...): only with VPSORG_WEBHOOKS_ALLOW_PRIVATE=1;
  - never: cloud metadata (169.254.169.254, fd00:ec2::254, 100.100.100.200, ...), link-local
    (169.254/16, fe80::/10), multicast, reserved (240/4), unspecified (0.0.0.0, ::) and
    broadcast, whatever the settings.
  IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are
  judged by the IPv4 address they carry.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from vpsorg.errors import ValidationFailed

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, Hetzner, OpenStack...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
BROADCAST = ipaddress.IPv4Address("255.255.255.255")


@dataclass(frozen=True)
class Policy:
    """What the settings allow (VPSORG_WEBHOOKS_ALLOW_HTTP, VPSORG_WEBHOOKS_ALLOW_PRIVATE)."""

    allow_http: bool = False
    allow_private: bool = False


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (the first allowed address) and what to send."""

    url: str
    scheme: str
    host: str  # as written in the URL, for the Host header and TLS's server name
    port: int
    address: IP


class UnsafeUrl(ValidationFailed):
    """The URL may not be called (scheme, or an address it resolves to)."""


def _refuse(message: str) -> UnsafeUrl:
    return UnsafeUrl(f"Invalid url: {message}", details={"fields": [{"name": "url", "message": message}]})


def _carried(ip: IP) -> IP:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), else itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def refusal(ip: IP, policy: Policy) -> str | None:
    """What kind of address it is, if it may not be called (None: it may)."""
    a = _carried(ip)
    if a in METADATA:
        return "a cloud metadata address"
    if a.is_unspecified:
        return "unspecified"
    if a.is_link_local:
        return "link-local"
    if a.is_multicast:
        return "multicast"
    if a == BROADCAST:
        return "broadcast"
    if a.is_loopback:
        return None if policy.allow_http or policy.allow_private else "loopback"
    if a.is_reserved:
        return "reserved"
    if not a.is_global and not policy.allow_private:
        return "private"
    return None


def parse(url: str, policy: Policy) -> SplitResult:
    """The URL split, if its form is acceptable (scheme, a host, no credentials)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse(f"not a URL ({exc})") from None
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in schemes:
        allowed = " or ".join(schemes)
        raise _refuse(
            f"the scheme must be {allowed}" + ("" if policy.allow_http else " (http is not allowed)")
        )
    if not parts.hostname:
        raise _refuse("it has no host")
    if parts.username is not None or parts.password is not None:
        raise _refuse("credentials in the URL are not allowed")
    if port == 0:
        raise _refuse("port 0")
    return parts


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(host: str, port: int) -> list[IP]:
    """The host's addresses (a literal address is its own), in the resolver's order."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _refuse(f"the host {host!r} does not resolve ({exc})") from None
    found: list[IP] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    if not found:
        raise _refuse(f"the host {host!r} has no address")
    return found


async def check(url: str, policy: Policy) -> Target:
    """The URL's target, if every address its host resolves to now may be called; UnsafeUrl
    (a 400 validation_error on url) saying why not."""
    parts = parse(url, policy)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolve(host, port)
    for ip in addresses:
        why = refusal(ip, policy)
        if why is not None:
            said = f"{host} is {why}" if _literal(host) else f"{host} resolves to {ip}, which is {why}"
            raise _refuse(said)
    return Target(url=url, scheme=parts.scheme, host=host, port=port, address=addresses[0])
