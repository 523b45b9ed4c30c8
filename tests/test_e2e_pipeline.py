"""The whole pipeline on real parts: a real RTSP server playing real footage, the real model, a real mosquitto,
`sentinel run` as a separate process. A crowd_gathering alert must reach an independent MQTT subscriber."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import av
import jsonschema
import pytest

from tests.mqtt_helpers import Recorder
from tests.support.daemon import Daemon
from tests.support.footage import vtest_h264
from tests.support.servers import Mosquitto, RtspServer

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "sentinel" / "data" / "alert.schema.json").read_text())


def daemon_config(tmp_path: Path, broker_url: str, rtsp_url: str, extra_camera: str = "") -> Path:
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            site: {{id: e2e, timezone: Asia/Shanghai}}
            mqtt: {{url: "{broker_url}"}}
            storage: {{data_dir: data}}
            workers: 1
            cameras:
              - id: plaza
                name: 测试广场
                source: "{rtsp_url}"
                decode: keyframes
                analyze_fps: 0.5
                stall_timeout: 6
                read_timeout: 5
                open_timeout: 5
                location: {{lon: 116.3975, lat: 39.9087}}
                grid: "110101001001001"
                zones:
                  - name: plaza
                    polygon: [[0, 0.25], [1, 0.25], [1, 1], [0, 1]]
                rules:
                  - kind: count_in_zone
                    event_type: crowd_gathering
                    zone: plaza
                    min_count: 3
                    min_duration: 4s
                    cooldown: 1h
            """
        )
        + extra_camera,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    with Mosquitto() as b:
        yield b


@pytest.fixture
def rtsp() -> Iterator[RtspServer]:
    with RtspServer({"plaza": vtest_h264(1280, 720, fps=25, gop=50)}) as server:
        yield server


def test_crowd_alert_end_to_end(tmp_path: Path, broker: Mosquitto, rtsp: RtspServer) -> None:
    recorder = Recorder(broker.port, "sentinel/e2e/#")
    daemon = Daemon(daemon_config(tmp_path, broker.url, rtsp.url("plaza")))
    try:
        alert_msg = recorder.wait_for(
            lambda m: m.topic == "sentinel/e2e/alerts/crowd_gathering/plaza", timeout=90
        )[0]
        alert = alert_msg.json()
        jsonschema.validate(alert, SCHEMA)
        assert alert["event_type"] == "crowd_gathering" and alert["name"] == "人员聚集"
        assert alert["camera_id"] == "plaza" and alert["camera_name"] == "测试广场"
        assert alert["count"] >= 3 and len(alert["objects"]) >= 3  # count: the window's median; objects: now
        assert all(o["label"] == "person" for o in alert["objects"])
        assert alert["location"] == {"lon": 116.3975, "lat": 39.9087, "method": "camera"}
        assert alert["grid"]["grid"] == "110101001001001"

        snap_rel = alert["snapshot"]["url"].removeprefix("/media/")
        snap = tmp_path / "data" / snap_rel
        assert snap.is_file(), alert["snapshot"]
        with av.open(str(snap)) as c:
            img = next(c.decode(video=0)).to_ndarray(format="bgr24")
        assert img.shape == (720, 1280, 3)
        import hashlib

        assert hashlib.sha256(snap.read_bytes()).hexdigest() == alert["snapshot"]["sha256"]

        status = recorder.wait_for(
            lambda m: m.topic == "sentinel/e2e/cameras/plaza/status" and m.json()["state"] == "online", 10
        )
        assert status[0].json()["error"] is None
        assert recorder.wait_for(lambda m: m.topic == "sentinel/e2e/status", 5)[0].payload == b"online"
    finally:
        code = daemon.stop()
        recorder.close()
    assert code == 0, daemon.output()

    db = sqlite3.connect(tmp_path / "data" / "sentinel.db")
    rows = db.execute("SELECT id, event_type, camera_id FROM alerts").fetchall()
    assert (alert["alert_id"], "crowd_gathering", "plaza") in rows
    assert db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0] == 0
    assert len(rows) == 1  # one gathering, one alert: the cooldown held back repeats

    late = Recorder(broker.port, "sentinel/e2e/status")  # after a clean stop the retained status is offline
    assert late.wait_for(lambda m: True, 5)[0].payload == b"offline"
    late.close()
    assert "Traceback" not in daemon.output()


def test_rtsp_server_restart_camera_goes_offline_and_back(
    tmp_path: Path, broker: Mosquitto, rtsp: RtspServer
) -> None:
    recorder = Recorder(broker.port, "sentinel/e2e/cameras/#")
    daemon = Daemon(daemon_config(tmp_path, broker.url, rtsp.url("plaza")))

    def camera_state(state: str) -> bool:
        return (
            len(
                [
                    m
                    for m in recorder.messages
                    if m.topic.endswith("/plaza/status") and m.json()["state"] == state
                ]
            )
            > 0
        )

    try:
        recorder.wait_for(lambda m: m.topic.endswith("/plaza/status") and m.json()["state"] == "online", 60)
        rtsp.stop()
        offline = recorder.wait_for(
            lambda m: m.topic.endswith("/plaza/status") and m.json()["state"] == "offline", 30
        )
        assert offline[0].json()["error"], offline[0].json()
        assert offline[0].json()["error"].startswith("rtsp://127.0.0.1:")
        time.sleep(3)  # stay down across a few reconnect attempts
        recorder.messages.clear()
        rtsp.start()
        back = recorder.wait_for(
            lambda m: m.topic.endswith("/plaza/status") and m.json()["state"] == "online", 90
        )
        assert back[0].json()["reconnects"] >= 1
        assert daemon.proc.poll() is None  # the same daemon process, never restarted

        retained = Recorder(
            broker.port, "sentinel/e2e/cameras/plaza/status"
        )  # a newcomer sees the retained state
        msg = retained.wait_for(lambda m: True, 5)[0]
        assert msg.retain and msg.json()["state"] == "online"
        retained.close()
    finally:
        code = daemon.stop()
        recorder.close()
    assert code == 0, daemon.output()
    assert not camera_state("nonsense")


def test_bad_camera_does_not_stop_the_good_one(tmp_path: Path, broker: Mosquitto, rtsp: RtspServer) -> None:
    bad = '  - id: broken\n    source: "rtsp://admin:${E2E_SECRET}@127.0.0.1:9/nothing"\n    open_timeout: 2\n    offline_alert_after: 3s\n'
    recorder = Recorder(broker.port, "sentinel/e2e/#")
    daemon = Daemon(
        daemon_config(tmp_path, broker.url, rtsp.url("plaza"), extra_camera=bad),
        env={"E2E_SECRET": "pa55word"},
    )
    try:
        err = recorder.wait_for(
            lambda m: m.topic.endswith("/broken/status") and m.json()["state"] == "offline", 30
        )[0]
        assert "connection refused" in err.json()["error"]
        assert "pa55word" not in err.payload.decode()
        offline_alert = recorder.wait_for(
            lambda m: m.topic == "sentinel/e2e/alerts/camera_offline/broken", 30
        )[0].json()
        jsonschema.validate(offline_alert, SCHEMA)
        assert offline_alert["name"] == "设备离线" and offline_alert["snapshot"] is None
        recorder.wait_for(lambda m: m.topic == "sentinel/e2e/alerts/crowd_gathering/plaza", timeout=90)
        time.sleep(4)
        assert (
            len([m for m in recorder.messages if "/alerts/camera_offline/" in m.topic]) == 1
        )  # once per outage
    finally:
        daemon.stop()
        recorder.close()
    everything = b"".join(m.payload for m in recorder.messages).decode(errors="replace") + daemon.output()
    assert "pa55word" not in everything


def _worker_pids(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and "spawn_main" in cmdline:
            pids.append(int(entry.name))
    return pids


def test_killed_worker_is_restarted(tmp_path: Path, broker: Mosquitto, rtsp: RtspServer) -> None:
    recorder = Recorder(broker.port, "sentinel/e2e/cameras/#")
    daemon = Daemon(daemon_config(tmp_path, broker.url, rtsp.url("plaza")))
    try:
        recorder.wait_for(lambda m: m.json()["state"] == "online", 60)
        pids = _worker_pids(daemon.proc.pid)
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
        down = recorder.wait_for(lambda m: "analysis worker 0 died" in (m.json()["error"] or ""), 30)[0]
        assert down.json()["state"] == "offline"
        recorder.messages.clear()
        recorder.wait_for(lambda m: m.json()["state"] == "online", 60)
        new_pids = _worker_pids(daemon.proc.pid)
        assert len(new_pids) == 1 and new_pids != pids
    finally:
        code = daemon.stop()
        recorder.close()
    assert code == 0, daemon.output()


def test_run_with_broken_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        "cameras:\n  - id: a\n    source: /x.mp4\n    zones: [{name: z, polygon: [[0, 0], [1, 1]]}]\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel.cli.main", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"{path}:4: cameras[0].zones[0].polygon: a polygon needs at least 3 points" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_embedded_broker_when_no_mqtt_url(tmp_path: Path, rtsp: RtspServer) -> None:
    from tests.support.servers import free_port

    port = free_port()
    config = daemon_config(tmp_path, "x", rtsp.url("plaza"))
    config.write_text(config.read_text().replace('mqtt: {url: "x"}', f"mqtt: {{embedded_port: {port}}}"))
    daemon = Daemon(config)
    try:
        deadline = time.monotonic() + 20
        recorder = None
        while recorder is None and time.monotonic() < deadline:
            try:
                recorder = Recorder(port, "sentinel/e2e/#")
            except OSError:
                time.sleep(0.2)
        assert recorder is not None, daemon.output()
        recorder.wait_for(lambda m: m.topic == "sentinel/e2e/alerts/crowd_gathering/plaza", timeout=90)
        recorder.close()
    finally:
        code = daemon.stop()
    assert code == 0, daemon.output()


def test_broker_down_at_start_alert_waits_then_arrives(tmp_path: Path, rtsp: RtspServer) -> None:
    from tests.support.servers import free_port

    port = free_port()
    config = daemon_config(tmp_path, f"mqtt://127.0.0.1:{port}", rtsp.url("plaza"))
    daemon = Daemon(config)
    db_path = tmp_path / "data" / "sentinel.db"
    try:
        stored: list[tuple[str, str | None]] = []
        deadline = time.monotonic() + 90
        while not stored and time.monotonic() < deadline:
            time.sleep(0.5)
            if db_path.exists():
                try:
                    with sqlite3.connect(db_path) as db:
                        stored = db.execute(
                            "SELECT a.id, o.sent_at FROM alerts a JOIN outbox o ON o.alert_id = a.id"
                        ).fetchall()
                except sqlite3.OperationalError:  # the daemon is still creating the schema
                    pass
        assert stored, daemon.output()
        assert stored[0][1] is None  # stored, not yet sent: no broker
        with Mosquitto(port=port) as broker:
            recorder = Recorder(broker.port, "sentinel/e2e/alerts/#")
            msg = recorder.wait_for(lambda m: True, timeout=120)[0]
            assert msg.json()["alert_id"] == stored[0][0]
            recorder.close()
            assert daemon.stop() == 0, daemon.output()
    finally:
        daemon.stop()


def test_last_will_says_offline_when_daemon_is_killed(
    tmp_path: Path, broker: Mosquitto, rtsp: RtspServer
) -> None:
    config = daemon_config(tmp_path, broker.url, rtsp.url("plaza"))
    config.write_text(
        config.read_text().replace(
            f'mqtt: {{url: "{broker.url}"}}', f'mqtt: {{url: "{broker.url}", keepalive: 5}}'
        )
    )
    recorder = Recorder(broker.port, "sentinel/e2e/#")
    daemon = Daemon(config)
    try:
        recorder.wait_for(lambda m: m.topic.endswith("/plaza/status") and m.json()["state"] == "online", 60)
        workers = _worker_pids(daemon.proc.pid)
        assert workers
        daemon.proc.kill()  # no chance to say goodbye: the broker's last will must
        daemon.proc.wait(10)
        recorder.wait_for(lambda m: m.topic == "sentinel/e2e/status" and m.payload == b"offline", 20)
    finally:
        daemon.stop()
        recorder.close()
    late = Recorder(broker.port, "sentinel/e2e/status")
    assert late.wait_for(lambda m: True, 5)[0].payload == b"offline"
    late.close()
    deadline = time.monotonic() + 15
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_running(pid) for pid in workers)  # orphaned workers notice and exit


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_run_serves_the_console(tmp_path: Path, broker: Mosquitto, rtsp: RtspServer) -> None:
    import urllib.request

    from tests.support.servers import free_port

    port = free_port()
    config = daemon_config(tmp_path, broker.url, rtsp.url("plaza"))
    config.write_text(config.read_text() + f"console: {{host: 127.0.0.1, port: {port}}}\n")
    recorder = Recorder(broker.port, "sentinel/e2e/alerts/#")
    daemon = Daemon(config)
    try:
        recorder.wait_for(lambda m: True, 90)  # the pipeline runs with the console on
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/alerts", timeout=5)
            raise AssertionError("the API answered without a login")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
    finally:
        code = daemon.stop()
        recorder.close()
    assert code == 0, daemon.output()
