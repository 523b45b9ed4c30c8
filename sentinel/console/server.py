"""Run the console app with uvicorn in a thread of the daemon (or of a test).

The socket is bound before the thread starts, so a port in use is a clear error from `start()` and port 0
gets a free port (`.port`). `stop()` ends the live streams first, then uvicorn, whose graceful shutdown is
bounded (`timeout_graceful_shutdown`): an open SSE stream cannot keep the daemon from stopping.

uvicorn's proxy headers are off: its default trusts X-Forwarded-For from 127.0.0.1, which is every client of a
console on localhost. The app believes them only from `console.trusted_proxies` (`console/forwarded.py`).
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class ConsoleServerError(Exception):
    """The console cannot listen (address in use, bad address); the message says which."""


class ConsoleServer:
    def __init__(
        self, app: FastAPI, host: str = "127.0.0.1", port: int = 8080, *, graceful_timeout: float = 2.0,
        log_level: str = "warning", fallback: bool = False,
    ) -> None:  # fmt: skip
        self.app = app
        self.fallback = fallback  # port taken: listen on any free one
        self.host = host
        self.port = port
        self._config = uvicorn.Config(
            app, host=host, port=port, log_level=log_level, access_log=False, lifespan="off",
            timeout_graceful_shutdown=max(1, round(graceful_timeout)), proxy_headers=False,
            server_header=False,
        )  # fmt: skip
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            try:
                sock.bind((self.host, self.port))
            except OSError as exc:
                if not (self.fallback and exc.errno == errno.EADDRINUSE and self.port):
                    raise
                log.warning("console: port %d is taken; listening on a free port instead", self.port)
                sock.bind((self.host, 0))
        except OSError as exc:
            sock.close()
            raise ConsoleServerError(
                f"console: cannot listen on {self.host}:{self.port}: {exc.strerror}"
            ) from None
        sock.listen(128)
        sock.set_inheritable(True)
        return sock

    def start(self, timeout: float = 10.0) -> None:
        self._socket = self._bind()
        self.port = self._socket.getsockname()[1]

        def serve() -> None:
            try:
                self._server.run(sockets=[self._socket] if self._socket else None)
            except BaseException as exc:  # SystemExit from uvicorn's startup, or anything else
                self._error = exc

        self._thread = threading.Thread(target=serve, name="console", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConsoleServerError(f"console: uvicorn did not start on {self.url}: {self._error!r}")
            time.sleep(0.02)
        log.info("console on %s", self.url)

    def stop(self, timeout: float = 10.0) -> None:
        deps = getattr(self.app.state, "deps", None)
        if deps is not None:
            deps.live.close()  # SSE streams end now, not at the graceful timeout
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(2.0)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> ConsoleServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
