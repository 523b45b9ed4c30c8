"""The largest request body the console reads (`console.max_body`), enforced before anything parses it.

A declared Content-Length over the limit is answered 413 without calling the app (the body, if at most DRAIN
over the limit, is read and dropped first, never parsed); a body without one (chunked) is counted as it arrives and the request ends with 413 as soon as
the count passes the limit. Either way the login route never sees more than the limit, signed in or not.
A few upload routes (`uploads`: a path pattern and its own limit, e.g. the evidence photos) have a larger one;
they read their body only after the sign-in check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def size_text(limit: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} bytes"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the limit; FastAPI hands an HTTPException raised while
    it reads the body on to the exception handler (413), and `BodyLimit` answers it if nothing else did."""

    def __init__(self, limit: int, source: str = "console.max_body") -> None:
        super().__init__(413, f"request body over {size_text(limit)} ({source})")


# A refused body up to this much over the limit is read and dropped before the 413: closing a connection with
# unread data makes the kernel send a reset, which can destroy the 413 before the client reads it. More than
# this is not read at all (the client may then see the reset instead of the answer).
DRAIN = 1 << 20


async def _drain(receive: Receive, budget: int) -> None:
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BodyLimit:
    """Plain ASGI, so nothing buffers the body before the limit is checked."""

    def __init__(
        self, app: ASGIApp, max_body: int, uploads: Sequence[tuple[re.Pattern[str], int]] = ()
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.uploads = tuple(uploads)

    def limit_for(self, path: str) -> int:
        return next((limit for pattern, limit in self.uploads if pattern.match(path)), self.max_body)

    def _too_large(self, limit: int) -> BodyTooLarge:
        return BodyTooLarge(limit, "console.max_body" if limit == self.max_body else "this upload's limit")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            if int(declared) - limit <= DRAIN:
                await _drain(
                    receive, int(declared)
                )  # nothing is parsed: only so that the 413 reaches the client
            await self._refuse(send, limit)  # the server closes the connection after
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise self._too_large(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if received > limit:  # the rest of the body is never read: end the connection
                    MutableHeaders(scope=message)["connection"] = "close"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await _drain(receive, limit + DRAIN - received)
            await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps({"detail": self._too_large(limit).detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
