"""Issue 4 end to end on real parts: an injected crowd on a real RTSP stream → alert → case in the right grid
with the right worker → the command platform (a separate MQTT client) accepts and reports feedback → the
camera re-checks the place, sees it clear → the case closes. Every step is published on MQTT."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import paho.mqtt.client as mqtt
import pytest

from sentinel.cases.roster import load_roster
from tests.mqtt_helpers import Recorder
from tests.support.daemon import Daemon
from tests.support.footage import crowd_then_empty
from tests.support.servers import Mosquitto, RtspServer

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
CASE_SCHEMA = json.loads((REPO / "sentinel" / "data" / "case.schema.json").read_text())
GRID = "110101001001001"


def write_config(tmp_path: Path, broker: Mosquitto, rtsp: RtspServer) -> Path:
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        f"""\
site: {{id: e2e, timezone: Asia/Shanghai}}
mqtt: {{url: "{broker.url}"}}
storage: {{data_dir: data}}
grid: {{cells: {REPO / "config" / "grid.geojson"}, roster: {REPO / "config" / "roster.yaml"}}}
event_types:
  crowd_gathering: {{severity: normal, auto_register: true, deadline: 2h}}
cases:
  verify_clear_checks: 3
  verify_clear_span: 8s
  verify_active_checks: 1000
  verify_active_span: 1h
workers: 1
cameras:
  - id: plaza
    name: 北广场
    source: "{rtsp.url("plaza")}"
    decode: keyframes
    analyze_fps: 1
    location: {{lon: 116.3975, lat: 39.9087}}
    grid: "{GRID}"
    zones:
      - {{name: plaza, polygon: [[0, 0.25], [1, 0.25], [1, 1], [0, 1]]}}
    rules:
      - {{kind: count_in_zone, event_type: crowd_gathering, zone: plaza, min_count: 3, min_duration: 3s, cooldown: 1h,
          urgent_ratio: 10}}  # vtest holds 6+ people (2 x 3): this walk-through is at normal severity
""",
        encoding="utf-8",
    )
    return path


def send(port: int, topic: str, payload: dict[str, object] | bytes) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    client.publish(topic, data, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def test_alert_to_closed_case(tmp_path: Path) -> None:
    worker = load_roster(REPO / "config" / "roster.yaml").for_grid(GRID).workers[0].id
    with Mosquitto() as broker, RtspServer({"plaza": crowd_then_empty(20, 40)}) as rtsp:
        rec = Recorder(broker.port, "sentinel/e2e/#")
        daemon = Daemon(write_config(tmp_path, broker, rtsp))
        try:
            alert = rec.wait_for(lambda m: "/alerts/crowd_gathering/plaza" in m.topic, 90)[0].json()
            assert alert["grid"]["grid"] == GRID and alert["grid"]["name"] == "天街社区第一网格"
            created = rec.wait_for(lambda m: m.topic.startswith(f"sentinel/e2e/cases/{GRID}/"), 30)[0]
            case = created.json()
            jsonschema.validate(case, CASE_SCHEMA)
            assert alert["alert_id"] in case["alert_ids"]
            assert case["state"] == "dispatched" and case["assignee"] == worker, case
            case_id = case["case_id"]
            cmd_topic = f"sentinel/e2e/commands/cases/{case_id}"

            send(broker.port, cmd_topic, {"action": "accept", "actor": worker, "request_id": "r1"})
            reply = rec.wait_for(
                lambda m: m.topic == "sentinel/e2e/commands/replies" and m.json().get("request_id") == "r1",
                20,
            )
            assert reply[0].json()["ok"] is True, reply[0].json()
            send(
                broker.port,
                cmd_topic,
                {"action": "feedback", "actor": worker, "note": "人群已疏散", "request_id": "r2"},
            )
            reply = rec.wait_for(
                lambda m: m.topic == "sentinel/e2e/commands/replies" and m.json().get("request_id") == "r2",
                20,
            )
            assert reply[0].json()["ok"] is True, reply[0].json()

            # the camera sees the plaza empty (the grey part of the clip) and verifies: the case closes
            closed = rec.wait_for(lambda m: m.topic == created.topic and m.json()["state"] == "closed", 120)[
                0
            ].json()
            jsonschema.validate(closed, CASE_SCHEMA)
            states = [m.json()["state"] for m in rec.messages if m.topic == created.topic]
            assert states[0] == "dispatched" and "accepted" in states and "verifying" in states
            assert states.index("accepted") < states.index("verifying") < states.index("closed")

            # a command that breaks the rules gets an error reply, never a crash
            send(broker.port, cmd_topic, {"action": "feedback", "actor": worker, "request_id": "r3"})
            bad = rec.wait_for(
                lambda m: m.topic == "sentinel/e2e/commands/replies" and m.json().get("request_id") == "r3",
                20,
            )[0].json()
            assert bad["ok"] is False and bad["error"] == "illegal_transition" and "closed" in bad["reason"]
            send(broker.port, cmd_topic, b"{not json")
            rec.wait_for(
                lambda m: m.topic == "sentinel/e2e/commands/replies" and m.json().get("error") == "bad_json",
                20,
            )
            assert daemon.proc.poll() is None
        finally:
            code = daemon.stop()
            rec.close()
        assert code == 0, daemon.output()
        assert "Traceback" not in daemon.output()
