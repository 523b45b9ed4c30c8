"""The built-in MQTT broker (amqtt) started when no `mqtt.url` is configured, so a fresh install works out
of the box. It listens on 127.0.0.1 only: production sites point Sentinel at their own broker."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

log = logging.getLogger(__name__)


class BrokerStartError(Exception):
    pass


class EmbeddedBroker:
    def __init__(self, port: int = 1883, host: str = "127.0.0.1", fallback: bool = False) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self.fallback = fallback
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        if not _port_free(self.host, self.port) and self.fallback:
            taken, self.port = self.port, _free_port(self.host)
            log.warning("port %d is taken; the embedded MQTT broker uses %d instead", taken, self.port)
        if not _port_free(self.host, self.port):
            raise BrokerStartError(
                f"cannot start the embedded MQTT broker: {self.host}:{self.port} is already in use "
                f"(another broker? set mqtt.url: mqtt://{self.host}:{self.port} to use it, or mqtt.embedded_port)"
            )
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise BrokerStartError(f"the embedded MQTT broker did not start: {self._error or 'timeout'}")
        log.info("embedded MQTT broker (amqtt) listening on %s", self.url)

    def _run(self) -> None:
        from amqtt.broker import Broker

        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        try:
            self._broker = Broker(config, loop=loop)
            loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # reported to start() by the caller's thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._broker.shutdown())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
