"""Headers on every response (Content-Security-Policy and friends) and the same-origin rule for writes.

The page and the API docs load only their own files: every script, stylesheet, image, stream and fetch
comes from the console's origin, no page may frame it, and no inline script or style runs anywhere (the page
sets styles through the CSSOM; Swagger UI, served from the swagger-ui-bundle package, needs nothing more;
`tests/test_console_browser.py` runs both under the policy and watches for violations).

A request that changes something (POST, PUT, PATCH, DELETE) and carries the session cookie must say where it
comes from: its Origin (or, without one, its Referer) must be the console's own host. A missing Origin and
`Origin: null` (sandboxed frames, some redirects) are refused. Bearer-token calls carry no ambient credential
and are let through; so is a request without the cookie (login), which has nothing to forge.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "sentinel_session"


CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


class SecurityHeaders:
    """Plain ASGI (a BaseHTTPMiddleware would buffer and entangle the SSE stream)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def has_session_cookie(headers: Headers) -> bool:
    """Parsed as `request.cookies` parses it, so what the routes would sign in with is what is checked."""
    return bool(cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE))


def same_origin(headers: Headers) -> bool:
    """Whether the request says it comes from the console's own host (Origin, else Referer)."""
    origin = headers.get("origin")
    if origin is None:
        origin = headers.get("referer")
    if not origin or origin.strip() == "null":
        return False
    return urlsplit(origin.strip()).netloc.lower() == headers.get("host", "").lower()


class SameOriginWrites:
    """Plain ASGI: 403 for a cookie-signed write from another origin, before any route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = Headers(scope=scope)
            if "authorization" not in headers and has_session_cookie(headers) and not same_origin(headers):
                await _forbidden(send)
                return
        await self.app(scope, receive, send)


async def _forbidden(send: Send) -> None:
    body = json.dumps({"detail": "cross-site request refused (Origin is not this console)"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
