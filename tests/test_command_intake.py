"""Case commands through the daemon's own intake on a real broker: the composition root's services and the
supervisor's loop (in this process, no cameras), a real Mosquitto, a real SQLite database. Every malformed
command gets exactly one reply with an error code."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from sentinel.cases.engine import CaseChange
from sentinel.config.loader import load_config
from sentinel.daemon.compose import compose
from sentinel.daemon.services import Services
from sentinel.daemon.supervisor import Supervisor
from tests.mqtt_helpers import Received, Recorder
from tests.support.servers import Mosquitto
from tests.test_case_engine import ROUTING, make_alert

SITE = "intake"
PREFIX = f"sentinel/{SITE}"
REPLIES = f"{PREFIX}/commands/replies"


@contextmanager
def daemon(tmp_path: Path, broker: Mosquitto) -> Iterator[Services]:
    """`sentinel run` without cameras: compose() and the supervisor's loop in a thread of this process."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        f'site: {{id: {SITE}}}\nmqtt: {{url: "{broker.url}"}}\nstorage: {{data_dir: data}}\n'
        "console: {enabled: false}\ncameras: []\n",
        encoding="utf-8",
    )
    services = compose(load_config(path))
    supervisor = Supervisor(services)
    supervisor.start()
    stop = threading.Event()
    loop = threading.Thread(target=supervisor.run, args=(stop,), name="supervisor", daemon=True)
    loop.start()
    try:
        yield services
    finally:
        stop.set()
        loop.join(30)
        supervisor.stop()


def open_case(services: Services) -> CaseChange:
    assert services.cases is not None
    alert = make_alert(services.cases.event_types, datetime.now(UTC))
    services.store.record(alert, f"{PREFIX}/alerts/{alert.event_type}/{alert.camera_id}", None)
    return services.cases.on_alert(alert, ROUTING, confirmed=True)


class Sender:
    """The command platform: one MQTT client publishing raw command payloads at QoS 1."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"platform-{time.monotonic_ns()}"
        )
        self.client.max_inflight_messages_set(100)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, case: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        return self.client.publish(f"{PREFIX}/commands/cases/{case}", payload, qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def replies_to(rec: Recorder, request_id: str) -> list[dict[str, object]]:
    return [
        m.json()
        for m in list(rec.messages)
        if m.topic == REPLIES and m.json().get("request_id") == request_id
    ]


def is_reply(request_id: str) -> Callable[[Received], bool]:
    return lambda m: m.topic == REPLIES and m.json().get("request_id") == request_id


def test_malformed_commands_each_get_one_error_reply(tmp_path: Path) -> None:
    with Mosquitto() as broker:
        rec = Recorder(broker.port, f"{PREFIX}/#")
        sender = Sender(broker.port)
        try:
            with daemon(tmp_path, broker) as services:
                case = open_case(services)
                assert case.state == "dispatched"
                sender.send(
                    case.case_id, b'{"action": "accept", "actor": "command-platform", "request_id": "ok-1"}'
                )
                assert rec.wait_for(is_reply("ok-1"), 20)[0].json()["state"] == "accepted"
                bad = {
                    "surrogate-action": b'{"action": "\\ud800", "actor": "command-platform", "request_id": "%s"}',
                    "surrogate-note": b'{"action": "extend", "actor": "command-platform", "note": "\\udfff x",'
                    b' "request_id": "%s"}',
                    "huge-extend": b'{"action": "extend", "actor": "command-platform", "extend_by": 99999999999,'
                    b' "request_id": "%s"}',
                    "huge-case-number": b'{"action": "extend", "actor": "command-platform", "request_id": "%s"}',
                }
                for rid, template in bad.items():
                    target = "9" * 30 if rid == "huge-case-number" else case.case_id
                    sender.send(target, template % rid.encode())
                sender.send(case.case_id, b'{"action": "extend", "actor": "command-platform", "extend_by": "2h",'
                            b' "request_id": "ok-2"}')  # fmt: skip
                # replies go out in order: once the last one is in, every earlier one has had its chance
                assert rec.wait_for(is_reply("ok-2"), 20)[0].json()["state"] == "extended"
                got = {rid: replies_to(rec, rid) for rid in bad}
                assert all(len(r) == 1 for r in got.values()), got
                errors = {rid: (r[0]["ok"], r[0]["error"]) for rid, r in got.items()}
                assert errors == {
                    "surrogate-action": (False, "bad_field"),
                    "surrogate-note": (False, "bad_field"),
                    "huge-extend": (False, "bad_field"),
                    "huge-case-number": (False, "unknown_case"),
                }
                assert "365 days" in str(got["huge-extend"][0]["reason"])
                assert len(replies_to(rec, "ok-1")) == len(replies_to(rec, "ok-2")) == 1
        finally:
            sender.close()
            rec.close()
