"""Who the client is, when a reverse proxy stands in front: X-Forwarded-For and X-Forwarded-Proto are believed
only from the proxies in `console.trusted_proxies`.

uvicorn's own proxy handling is off (`ConsoleServer`): it trusts 127.0.0.1 by default, which is every client
when the console listens on localhost, so anyone could name their own address and walk past the login limit.
Here the peer's address is the client's unless the peer is a trusted proxy; then the client is the right-most
X-Forwarded-For entry that is not itself a trusted proxy (entries further left were written by the client and
prove nothing), and the scheme is the proxy's X-Forwarded-Proto (so the session cookie is Secure behind TLS).
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

Network = IPv4Network | IPv6Network
SCHEMES = {"http": ("http", "ws"), "https": ("https", "wss")}


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        addr = ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def is_trusted(host: str, trusted: Sequence[Network]) -> bool:
    addr = _address(host)
    return addr is not None and any(addr in net for net in trusted)


def forwarded_client(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's address: `peer` unless it is a trusted proxy, then walk X-Forwarded-For from the right."""
    if not is_trusted(peer, trusted) or not forwarded_for:
        return peer
    client = peer
    for entry in reversed([e.strip() for e in forwarded_for.split(",") if e.strip()]):
        client = entry[:64]
        if not is_trusted(entry, trusted):
            break
    return client


class ForwardedHeaders:
    """Plain ASGI: sets `scope["client"]` and `scope["scheme"]` from a trusted proxy's headers."""

    def __init__(self, app: ASGIApp, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if (
            scope["type"] in ("http", "websocket")
            and self.trusted
            and client
            and is_trusted(client[0], self.trusted)
        ):
            headers = Headers(scope=scope)
            scope = dict(scope)
            scope["client"] = (forwarded_client(client[0], headers.get("x-forwarded-for"), self.trusted), 0)
            proto = (headers.get("x-forwarded-proto") or "").split(",")[-1].strip().lower()
            if proto in SCHEMES:
                scope["scheme"] = SCHEMES[proto][0 if scope["type"] == "http" else 1]
        await self.app(scope, receive, send)
