"""Case commands through the daemon's own intake on a real broker: the composition root's services and the
supervisor's loop (in this process, no cameras), a real Mosquitto, a real SQLite database. Every malformed
command gets exactly one reply with an error code."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa

from sentinel.cases.engine import CaseChange
from sentinel.config.loader import load_config
from sentinel.daemon.compose import compose
from sentinel.daemon.services import Services
from sentinel.daemon.supervisor import Supervisor
from sentinel.storage.outbox import OutboxRow
from tests.mqtt_helpers import Received, Recorder
from tests.support.servers import Mosquitto
from tests.test_case_engine import ROUTING, make_alert

SITE = "intake"
PREFIX = f"sentinel/{SITE}"
REPLIES = f"{PREFIX}/commands/replies"


@contextmanager
def daemon(
    tmp_path: Path, broker: Mosquitto, before_start: Callable[[Services], None] | None = None, *,
    site: str = SITE, mqtt_login: str = "", extra: str = "",
) -> Iterator[Services]:  # fmt: skip
    """`sentinel run` without cameras: compose() and the supervisor's loop in a thread of this process.
    `mqtt_login`: more keys of the `mqtt:` mapping (", username: ..."); `extra`: more config lines."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        f'site: {{id: {site}}}\nmqtt: {{url: "{broker.url}"{mqtt_login}}}\nstorage: {{data_dir: data}}\n'
        f"console: {{enabled: false}}\ncameras: []\n{extra}",
        encoding="utf-8",
    )
    services = compose(load_config(path))
    if before_start is not None:
        before_start(services)
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


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/self/status")


def reset_peak_rss() -> int:
    """Reset this process's peak RSS (Linux: clear_refs 5) and return the current RSS in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def peak_rss() -> int:
    return _status("VmHWM")


class ReplyCounter:
    """A light subscriber counting replies by request_id (a Recorder re-reads every message on each one)."""

    def __init__(self, port: int) -> None:
        self.by_request: dict[str, list[str | None]] = {}
        self._cond = threading.Condition()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"counter-{time.monotonic_ns()}"
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_connect = lambda c, *_: c.subscribe(REPLIES, qos=0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        with self._cond:
            self.by_request.setdefault(str(body.get("request_id")), []).append(body.get("error"))
            self._cond.notify_all()

    def wait_for(self, request_ids: int, timeout: float) -> dict[str, list[str | None]]:
        """Wait until replies to `request_ids` distinct requests are in; a copy of them all."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.by_request) >= request_ids, timeout)
            return {k: list(v) for k, v in self.by_request.items()}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_flood_of_commands_is_bounded_and_each_gets_one_reply(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flood = 10_000
    with Mosquitto() as broker:
        counter = ReplyCounter(broker.port)
        sender = Sender(broker.port)
        try:
            with daemon(tmp_path, broker) as services:
                publisher = services.publisher
                assert publisher.inbound_limit == 1000
                before = reset_peak_rss()
                for i in range(flood):  # QoS 0: as fast as the socket takes them
                    sender.client.publish(
                        f"{PREFIX}/commands/cases/4040",
                        b'{"action": "accept", "actor": "command-platform", "request_id": "f-%d"}' % i,
                    )
                assert len(counter.wait_for(flood, 180)) == flood  # a generous wait, not a time bound
                growth = peak_rss() - before
                assert publisher.inbound_peak <= publisher.inbound_limit
                assert publisher.inbound_dropped > 0, "the flood never filled the queue"
                sender.send(
                    "4040", b'{"action": "accept", "actor": "command-platform", "request_id": "after"}'
                )
                replies = counter.wait_for(flood + 1, 30)
            assert set(replies) == {f"f-{i}" for i in range(flood)} | {"after"}
            assert all(len(errors) == 1 for errors in replies.values())  # exactly one reply each
            errors = [e for errs in replies.values() for e in errs]
            assert errors.count("busy") == publisher.inbound_dropped
            assert errors.count("unknown_case") == flood + 1 - publisher.inbound_dropped
            assert replies["after"] == ["unknown_case"]  # handled again once the flood was over
            assert growth < 200 * 1024 * 1024, growth  # this process's peak RSS, flood included
            # dropping is logged once per burst (a burst ends when the queue has drained to half)
            fulls = sum("inbound queue full" in r.getMessage() for r in caplog.records)
            rooms = sum("inbound queue has room again" in r.getMessage() for r in caplog.records)
            assert 1 <= fulls <= rooms + 1 and fulls < publisher.inbound_dropped, (fulls, rooms)
        finally:
            sender.close()
            counter.close()


def _payloads(services: Services) -> set[str]:
    with services.store.sessions() as s:
        return set(s.scalars(sa.select(OutboxRow.payload).where(OutboxRow.topic == REPLIES)))


def test_old_sent_messages_are_pruned_and_unsent_ones_kept(tmp_path: Path) -> None:
    month_ago = datetime.now(UTC) - timedelta(days=30)

    def seed(services: Services) -> None:  # three rows sent a month ago, two never sent
        with services.store.sessions.begin() as s:
            s.add_all(
                OutboxRow(topic=REPLIES, payload=f'{{"n": {n}}}', qos=1, retain=False, alert_id=None,
                          created_at=month_ago, sent_at=month_ago if n < 3 else None, attempts=1)
                for n in range(5)
            )  # fmt: skip

    sent_long_ago = {'{"n": 0}', '{"n": 1}', '{"n": 2}'}
    with Mosquitto() as broker:
        rec = Recorder(broker.port, REPLIES)
        try:
            with daemon(tmp_path, broker, before_start=seed) as services:
                assert services.config.storage.outbox_retention_days == 7
                rec.wait_for(lambda m: m.payload in (b'{"n": 3}', b'{"n": 4}'), 30, count=2)  # sent now
                deadline = time.monotonic() + 30  # the supervisor's first leader round prunes
                while _payloads(services) & sent_long_ago and time.monotonic() < deadline:
                    time.sleep(0.2)
                left = _payloads(services)
            assert left == {'{"n": 3}', '{"n": 4}'}, left
            assert sorted(m.payload for m in rec.messages) == [b'{"n": 3}', b'{"n": 4}']
        finally:
            rec.close()
