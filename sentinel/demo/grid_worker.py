"""The demo's grid worker (网格员): a small actor with a roster id that does what a person on the phone would,
through the same door: it reads the cases published on `{p}/cases/+/+` and sends its actions on its own
command topic `{p}/commands/by/{person}/cases/{case_id}`, where Sentinel checks them like anyone's.

For every case dispatched to it, it accepts after `accept_after` seconds and reports the work done
(`feedback`) `feedback_after` seconds later; the camera that saw the case then re-checks the place and
closes it once the footage shows it clear. It takes no other case: those go unanswered, and escalate.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from sentinel.mqtt.topics import Topics

log = logging.getLogger("sentinel.demo.worker")


@dataclass
class _Plan:
    due: float
    action: str
    note: str


@dataclass
class DemoGridWorker:
    person: str  # roster id
    name: str  # for the log
    host: str
    port: int
    prefix: str
    accept_after: float = 3.0
    feedback_after: float = 6.0
    _plans: dict[str, _Plan] = field(default_factory=dict)
    _done: set[tuple[str, str]] = field(default_factory=set)  # (case id, action) already sent
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.topics = Topics(self.prefix.rstrip("/"))
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"demo-worker-{self.person}")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="demo-grid-worker", daemon=True)
        self._thread.start()
        log.info(
            "demo grid worker %s (%s) answers the cases dispatched to them: accepts after %.0f s, reports "
            "the work done %.0f s later", self.person, self.name, self.accept_after, self.feedback_after,
        )  # fmt: skip

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self.client.loop_stop()
        self.client.disconnect()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        if reason.is_failure:
            log.warning("demo grid worker: broker refused the connection (%s)", reason)
            return
        client.subscribe([(self.topics.cases(), 1), (self.topics.command_replies(self.person), 1)])

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        if msg.topic == self.topics.command_replies(self.person):
            if not body.get("ok"):
                log.warning("demo grid worker: %s refused: %s", body.get("action"), body.get("reason"))
            return
        self._plan(body)

    def _plan(self, case: dict[str, Any]) -> None:
        """What to do next about a published case, if it is this person's to do."""
        case_id, state = case.get("case_id"), case.get("state")
        if not isinstance(case_id, str) or case.get("assignee") != self.person:
            return
        now = time.monotonic()
        number = case.get("number")
        with self._lock:
            if state == "dispatched" and (case_id, "accept") not in self._done:
                self._plans[case_id] = _Plan(now + self.accept_after, "accept", "收到，马上去现场 on my way")
            elif state == "accepted" and (case_id, "feedback") not in self._done:
                note = f"案件{number}已处置，现场已清理 case {number} handled, the place is clear"
                self._plans[case_id] = _Plan(now + self.feedback_after, "feedback", note)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            now = time.monotonic()
            with self._lock:
                due = [(cid, p) for cid, p in self._plans.items() if p.due <= now]
                for cid, p in due:
                    del self._plans[cid]
                    self._done.add((cid, p.action))
            for case_id, plan in due:
                body = {"action": plan.action, "actor": self.person, "note": plan.note}
                self.client.publish(self.topics.command(case_id, self.person), json.dumps(body), qos=1)
                log.info("demo grid worker %s: %s case %s", self.person, plan.action, case_id[:8])
