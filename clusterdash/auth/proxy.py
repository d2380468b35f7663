"""Trusting a reverse proxy: a login (and groups) from headers, only when the request came from the proxy.

A header is just text any client can send; it means something only when the TCP peer, the address gunicorn
saw (`REMOTE_ADDR`, never X-Forwarded-For), is a trusted proxy that overwrites the header on every request.
`proxy_login` is a pure function of the peer, the headers and the settings: a `ProxyLogin`, or a
`ProxyRefusal` whose reason goes to the audit log (the client learns only that it was refused).

The trusted list is CIDRs, plus the word `unix` for a proxy connecting over a Unix socket (gunicorn reports
no address then; the socket's file permissions decide who can connect).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from clusterdash.auth.roles import Role, check_login, role_from_groups
from clusterdash.config import DEFAULT_USER_HEADER
from clusterdash.errors import BadParameter

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

UNIX = "unix"
CLIENT_ADDRESS_HEADER = "X-Real-IP"  # the recipe's nginx sets it to $remote_addr, overwriting a client's copy
GROUP_SEPARATORS = (",", ";")  # oauth2-proxy joins groups with commas, Shibboleth with semicolons
MAX_GROUPS = 1000


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()
    unix_socket: bool = False

    def trusts(self, peer: str | None) -> bool:
        if not peer:
            return self.unix_socket
        address = _address(peer)
        return address is not None and any(address in network for network in self.networks)


@dataclass(frozen=True)
class ProxySettings:
    trusted: TrustedProxies
    user_header: str = DEFAULT_USER_HEADER
    groups_header: str | None = None  # None: the proxy sends no groups; roles come from the accounts table
    admin_groups: frozenset[str] = field(default_factory=frozenset)
    staff_groups: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class ProxyLogin:
    login: str
    groups: tuple[str, ...] = ()
    role: Role | None = None  # from the groups when a groups header is configured


@dataclass(frozen=True)
class ProxyRefusal:
    reason: str  # untrusted-peer, no-login, bad-login: a fixed word for counting
    detail: str  # for the operator's log


def parse_trusted_proxies(text: str, name: str = "CLUSTERDASH_TRUSTED_PROXIES") -> TrustedProxies:
    """Comma- or space-separated CIDRs (a bare address is its /32 or /128) and optionally `unix`."""
    networks: list[Network] = []
    unix_socket = False
    for item in text.replace(",", " ").split():
        if item.lower() == UNIX:
            unix_socket = True
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise BadParameter(name, f"{item!r} is not a CIDR such as 10.0.0.0/8 or ::1/128 ({exc})") from None
    return TrustedProxies(tuple(networks), unix_socket)


def _address(peer: str) -> Address | None:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d; the list names it in IPv4.
        return address.ipv4_mapped or address
    return address


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, its name compared case-insensitively (whatever kind of mapping the caller has)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def split_groups(value: str) -> tuple[str, ...]:
    for separator in GROUP_SEPARATORS[1:]:
        value = value.replace(separator, GROUP_SEPARATORS[0])
    groups = [g.strip() for g in value.split(GROUP_SEPARATORS[0])]
    return tuple(g for g in groups if g)[:MAX_GROUPS]


def proxy_login(peer: str | None, headers: Mapping[str, str], settings: ProxySettings) -> ProxyLogin | ProxyRefusal:
    """Who the trusted proxy says this is, or why the request is refused."""
    if not settings.trusted.trusts(peer):
        return ProxyRefusal("untrusted-peer", f"peer {peer or 'unix socket'!r} is not in the trusted proxies")
    login = header(headers, settings.user_header)
    if not login:
        return ProxyRefusal("no-login", f"the trusted proxy sent no {settings.user_header} header")
    try:
        check_login(login)
    except BadParameter as exc:
        return ProxyRefusal("bad-login", f"{settings.user_header} {login[:200]!r}: {exc.message}")
    if settings.groups_header is None:
        return ProxyLogin(login)
    groups = split_groups(header(headers, settings.groups_header) or "")
    return ProxyLogin(login, groups, role_from_groups(groups, settings.admin_groups, settings.staff_groups))


def client_address(peer: str | None, headers: Mapping[str, str], trusted: TrustedProxies) -> str:
    """The client's address for throttling and the audit log: the proxy's X-Real-IP when the peer is a trusted
    proxy, else the peer itself. (X-Forwarded-For is not used: a client can prepend anything to it.)"""
    if trusted.trusts(peer):
        forwarded = (header(headers, CLIENT_ADDRESS_HEADER) or "").strip()
        if _address(forwarded) is not None:
            return forwarded
    return peer or ""
