"""Where live discovery may connect: the SSRF guard of ``POST /servers/{id}/discover``.

A team lead may register an HTTP server and ask SARK to discover it, so without a guard
SARK could be made to connect to anything its host reaches: a cloud metadata service
(169.254.169.254), an admin port on loopback, another tenant's service. Before connecting,
every address the endpoint's host resolves to is checked against
``SARK_DISCOVERY_ALLOWED_NETWORKS``; with the setting empty, link-local, unspecified and
multicast addresses are refused and everything else is allowed. Redirects cannot leave
the origin (the MCP SDK follows same-origin redirects only).

Limit: the SDK resolves the name again when it connects, so a DNS server that answers
differently the second time (DNS rebinding) is not covered; set the allow-list and use
names your own DNS serves.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Final
from urllib.parse import urlsplit

import anyio

from sark.core.errors import DiscoveryError, PermissionDeniedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def networks(setting: str) -> tuple[IPNetwork, ...]:
    """The networks of the ``discovery.allowed_networks`` setting (already validated)."""
    return tuple(ipaddress.ip_network(n) for n in setting.split(",") if n)


def refusal(address: IPAddress, allowed: tuple[IPNetwork, ...]) -> str | None:
    """Why discovery may not connect to ``address`` (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if allowed:
        if any(address.version == n.version and address in n for n in allowed):
            return None
        return "outside SARK_DISCOVERY_ALLOWED_NETWORKS"
    if address.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if address.is_unspecified or address.is_multicast:
        return "not a unicast address"
    return None


async def check(endpoint: str, setting: str) -> None:
    """Raise unless every address ``endpoint``'s host resolves to is allowed.

    Raises:
        PermissionDeniedError: an address is refused (403; nothing was sent to it).
        DiscoveryError: the URL is not http(s) or its host does not resolve (502).
    """
    url = urlsplit(endpoint)
    host = url.hostname
    if url.scheme not in _DEFAULT_PORTS or not host:
        msg = f"discovery needs an http:// or https:// endpoint (got {endpoint!r})"
        raise DiscoveryError(msg)
    try:
        port = url.port or _DEFAULT_PORTS[url.scheme]
        found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        msg = f"cannot resolve the endpoint's host {host!r}: {exc}"
        raise DiscoveryError(msg) from None
    allowed = networks(setting)
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        why = refusal(address, allowed)
        if why is not None:
            msg = f"discovery may not connect to {host} ({address}): {why}"
            raise PermissionDeniedError(msg)
