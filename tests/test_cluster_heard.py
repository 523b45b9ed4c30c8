"""What a node of a cluster takes in from the broker for its console (`sentinel.cluster.heard`), with a real
mosquitto, the real MQTT client of the daemon (`MqttPublisher`: subscriptions into its inbound queue) and the
real console over it. Anyone who can publish on the broker can publish anything: a retained malformed camera
status must not break `/api/cameras`, and spoofed alerts or cases must not reach the live feed."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.publish as mqtt_publish
import pytest

from sentinel.alerts.store import AlertStore
from sentinel.cases.routing import routing_for
from sentinel.cluster.heard import DropLog, HeardFromCluster
from sentinel.daemon.camera_board import CameraBoard
from sentinel.mqtt.publisher import BrokerAddress, MqttPublisher
from sentinel.mqtt.topics import Topics
from tests.support.browser import PASSWORD, TZ, ConsoleWorld, camera_status, console_world
from tests.support.servers import HOST, Mosquitto

PREFIX = "sentinel/demo"
T = Topics(PREFIX)
LOCAL = "plaza-north"  # the console world's camera, run by this node
KNOWN = {LOCAL, "remote-ok", "remote-bad", "remote-text", "remote-spoof", "remote-last"}


def _status_of(camera_id: str, node: str = "node-a") -> dict[str, Any]:
    """A status as another node's camera board builds it."""
    board = CameraBoard(TZ, 5.0, node_id=node)
    board.add(board_camera(camera_id), 0)
    return board.statuses()[0]


def board_camera(camera_id: str) -> Any:
    from sentinel.config.models import CameraConfig

    return CameraConfig.model_validate({"id": camera_id, "source": "rtsp://127.0.0.1:1/x", "name": "远端"})


class Node:
    """This node's intake: its MQTT client subscribed as a clustered node is, feeding `HeardFromCluster`."""

    def __init__(self, world: ConsoleWorld, broker: Mosquitto) -> None:
        self.announced: list[tuple[str, dict[str, Any]]] = []
        self.local = [camera_status(LOCAL, zones=[])]
        self.heard = HeardFromCluster(
            PREFIX, lambda cid: cid == LOCAL, lambda: set(KNOWN), lambda: list(self.local), self._announce
        )
        self.world = world
        self.publisher = MqttPublisher(
            BrokerAddress.parse(broker.url), PREFIX, AlertStore(world.deps.engine), client_id="node-b"
        )
        for topic_filter in (T.camera_statuses(), T.alerts(), T.cases()):
            self.publisher.subscribe(topic_filter)

    def _announce(self, kind: str, data: dict[str, Any]) -> None:
        self.announced.append((kind, data))
        self.world.live.publish(kind, data)

    def pump_until(self, *topics: str, timeout: float = 10.0) -> None:
        """Hand every message to the intake, as the supervisor's loop does, until each of `topics` came."""
        waiting = set(topics)
        deadline = time.monotonic() + timeout
        while waiting:
            assert time.monotonic() < deadline, f"{sorted(waiting)} did not come within {timeout} s"
            while not self.publisher.inbound.empty():
                topic, payload = self.publisher.inbound.get_nowait()
                assert self.heard.heard(topic, payload), topic
                waiting.discard(topic)
            time.sleep(0.05)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with Mosquitto() as broker:
        node: Node | None = None

        def statuses() -> list[dict[str, Any]]:
            assert node is not None
            return node.heard.camera_statuses()

        with console_world(tmp_path, statuses=statuses) as world:
            world.add_user("tom", "technician", PASSWORD)
            node = Node(world, broker)
            node.broker = broker  # type: ignore[attr-defined]
            try:
                yield node
            finally:
                node.publisher.stop()


def _publish(broker: Mosquitto, topic: str, payload: bytes | str, retain: bool = False) -> None:
    mqtt_publish.single(topic, payload, qos=1, retain=retain, hostname=HOST, port=broker.port)


def test_malformed_statuses_alerts_and_cases_are_dropped(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    broker: Mosquitto = node.broker  # type: ignore[attr-defined]
    world = node.world
    # retained before this node subscribes, as a stale or planted status would be
    _publish(broker, T.camera_status("remote-ok"), json.dumps(_status_of("remote-ok")), retain=True)
    _publish(broker, T.camera_status("remote-bad"), json.dumps({"state": 5}), retain=True)
    _publish(broker, T.camera_status("remote-text"), b"\xff not json", retain=True)
    spoof = {**_status_of("remote-ok"), "state": "online"}  # a valid status, on another camera's topic
    _publish(broker, T.camera_status("remote-spoof"), json.dumps(spoof), retain=True)
    caplog.set_level(logging.WARNING, "sentinel.cluster.heard")
    node.publisher.start()
    assert node.publisher.wait_connected(10)
    node.pump_until(*(T.camera_status(c) for c in ("remote-ok", "remote-bad", "remote-text", "remote-spoof")))

    alert = world.record_alert(camera_id="remote-ok")
    case = world.engine.on_alert(
        alert, routing_for(alert.grid.grid if alert.grid else None, world.deps.roster)
    )
    good_alert = json.loads(alert.to_json())
    alert_topic = T.alert(alert.event_type, "remote-ok")
    _publish(broker, alert_topic, json.dumps({"alert_id": "x", "camera_id": "remote-ok"}))
    _publish(broker, alert_topic, b"[1, 2")
    _publish(broker, alert_topic, json.dumps({**good_alert, "confidence": 7}))
    _publish(broker, T.alert(alert.event_type, "remote-spoof"), json.dumps(good_alert))  # topic disagrees
    _publish(broker, alert_topic, json.dumps(good_alert))
    _publish(broker, case.topic, json.dumps({"case_id": case.case_id, "state": "closed"}))
    _publish(broker, case.topic, json.dumps({**case.payload, "state": "exploded"}))
    _publish(broker, T.case(None, case.case_id), json.dumps(case.payload))  # its grid is not `unassigned`
    _publish(broker, case.topic, json.dumps(case.payload))
    last = T.camera_status("remote-last")
    _publish(broker, last, json.dumps(_status_of("remote-last")))
    node.pump_until(last)

    with world.client(world.token("tom")) as c:
        r = c.get("/api/cameras")
        assert r.status_code == 200, r.text
        assert [cam["camera_id"] for cam in r.json()] == [LOCAL, "remote-last", "remote-ok"]
        assert c.get("/api/cameras/remote-bad/snapshot").status_code == 404
    kinds = [
        (kind, data["case_id"] if kind == "case" else data["camera_id"]) for kind, data in node.announced
    ]
    assert kinds == [
        ("camera", "remote-ok"), ("alert", "remote-ok"), ("case", case.case_id), ("camera", "remote-last")
    ], node.announced  # fmt: skip
    assert node.announced[1][1] == good_alert and node.announced[2][1] == case.payload
    dropped = [r.getMessage() for r in caplog.records if "dropping an invalid message" in r.getMessage()]
    # one line per topic: 3 statuses; alert_topic (3 dropped), the spoofed alert; case.topic (2), `unassigned`
    assert len(dropped) == 3 + 1 + 1 + 1 + 1, dropped
    assert node.heard.drop.dropped == 3 + 4 + 3
    assert any("remote-spoof" in line and "is not the topic's" in line for line in dropped), dropped
    assert any("more since the last line" not in line and "not JSON" in line for line in dropped), dropped


def test_a_cleared_status_takes_the_camera_off(node: Node) -> None:
    broker: Mosquitto = node.broker  # type: ignore[attr-defined]
    node.publisher.start()
    assert node.publisher.wait_connected(10)
    topic = T.camera_status("remote-ok")
    _publish(broker, topic, json.dumps(_status_of("remote-ok")), retain=True)
    node.pump_until(topic)
    assert [s["camera_id"] for s in node.heard.camera_statuses()] == [LOCAL, "remote-ok"]
    _publish(broker, topic, b"", retain=True)  # the node that ran it cleared it
    node.pump_until(topic)
    assert [s["camera_id"] for s in node.heard.camera_statuses()] == [LOCAL]


def test_drop_log_says_once_per_topic_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "sentinel.cluster.heard")
    drop = DropLog(every=0.3)
    for _ in range(5):
        drop("a/b", "not JSON")
    drop("a/c", "not JSON")
    time.sleep(0.35)
    drop("a/b", "not JSON")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and drop.dropped == 7, lines
    assert lines[2].endswith("(4 more since the last line)"), lines
