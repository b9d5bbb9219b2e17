"""Who is asking: the client address the login throttle counts, behind trusted proxies or not.

Behind the recommended reverse proxy every request comes from the proxy's address, so counting
wrong passwords by the peer would let one attacker slow down the whole office. Only the proxies
named in the settings (`trusted_proxies`, `MAILBOT_TRUSTED_PROXIES`: addresses or networks) are
believed: when the peer is one of them, the client is the right-most address in
X-Forwarded-For that is not a trusted proxy — the one the outermost trusted proxy saw; whatever a
client writes further left is its own claim and ignored. With no trusted proxy named, the header
is ignored altogether (anyone can send it).

`ClientAddress` is WSGI middleware: it puts the address in `environ["mailbot.client"]` and then
removes every proxy header, so nothing further in can be misled by one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ENVIRON_KEY = "mailbot.client"
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO",
                 "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_BY", "HTTP_FORWARDED",
                 "HTTP_X_REAL_IP")
MAX_HOPS = 50  # a longer chain is an attacker's padding; its right end is what counts
MAX_KEY_CHARS = 64


def networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse addresses and CIDR networks; raises ValueError naming a bad entry."""
    found = []
    for entry in entries:
        try:
            found.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {entry!r}") from None
    return tuple(found)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as proxies write it: bare, `[v6]`, `[v6]:port` or `v4:port`."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_address(peer: str, forwarded_for: str, trusted: tuple[IPNetwork, ...]) -> str:
    """The address to count: the peer, or behind trusted proxies the right-most untrusted hop."""
    address = _address(peer)
    if address is None:
        return peer[:MAX_KEY_CHARS] or "unknown"

    def believed(candidate: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(candidate in network for network in trusted)

    if not believed(address):
        return str(address)
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()][-MAX_HOPS:]
    for hop in reversed(hops):
        hop_address = _address(hop)
        if hop_address is None:
            # A trusted proxy writes addresses: this came from the client; count it as written.
            return hop.strip()[:MAX_KEY_CHARS]
        if not believed(hop_address):
            return str(hop_address)
        address = hop_address
    return str(address)  # every hop a trusted proxy: the left-most one is as far as we see


class ClientAddress:
    """WSGI middleware: sets environ["mailbot.client"], then drops the proxy headers."""

    def __init__(self, app: Callable[..., Any], trusted: tuple[IPNetwork, ...]) -> None:
        self.app = app
        self.trusted = trusted

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ[ENVIRON_KEY] = client_address(str(environ.get("REMOTE_ADDR") or ""),
                                              str(environ.get("HTTP_X_FORWARDED_FOR") or ""),
                                              self.trusted)
        for header in PROXY_HEADERS:
            environ.pop(header, None)
        return self.app(environ, start_response)
