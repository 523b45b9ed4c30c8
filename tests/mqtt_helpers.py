"""A recording MQTT subscriber for tests (paho-mqtt 2 against a real broker)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class Recorder:
    def __init__(self, port: int, topic: str = "#") -> None:
        self.messages: list[Received] = []
        self.times: list[float] = []  # when each message arrived (monotonic seconds)
        self._cond = threading.Condition()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"recorder-{time.monotonic_ns()}"
        )
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.times.append(time.monotonic())
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def wait_for(self, pred: Callable[[Received], bool], timeout: float, count: int = 1) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [m for m in self.messages if pred(m)]
                if len(hits) >= count:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0:
                    topics = sorted({m.topic for m in self.messages})
                    raise AssertionError(
                        f"waited {timeout} s for {count} matching messages, got {len(hits)}; topics seen: {topics}"
                    )
                self._cond.wait(left)

    def timed(self) -> list[tuple[float, Received]]:
        with self._cond:
            return list(zip(self.times, self.messages, strict=True))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
