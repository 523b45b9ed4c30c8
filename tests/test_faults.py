"""Fault injection against real parts: nothing stored is lost, nothing gets stuck, one bad camera never stops
the others, a full disk is reported and not a crash.

`sentinel run` runs as a child process on real footage (vtest.avi: pedestrians) with the real model; the
broker is a real mosquitto, streams come from the real GStreamer RTSP server. Each test prints what it saw
(`-s` shows it): the fault, what happened, what was lost, how long recovery took.

Cameras here use several small-zone `count_in_zone` rules with a 1 s debounce and a 5 s cooldown, so alerts
keep coming (an episode fires once; the small zones empty and fill again every few seconds).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.publish as mqtt_publish
import pytest

from tests.mqtt_helpers import Recorder
from tests.support.daemon import Daemon
from tests.support.footage import VTEST_AVI, vtest_h264
from tests.support.gated_port import GatedPort
from tests.support.procs import Proc, descendants, wait_all_gone
from tests.support.servers import HOST, Mosquitto, RtspServer

REPO = Path(__file__).resolve().parents[1]
SITE = "faults"
PREFIX = f"sentinel/{SITE}"
PLAZA = {"lon": 116.3975, "lat": 39.9087}  # the sample grid's 北广场 cell 110101001001001 (worker zhangli)

# zone → min_count: measured on vtest at 2 fps, these fire ~18 times in its 79.5 s
ZONES: dict[str, tuple[list[list[float]], int]] = {
    "whole": ([[0, 0], [1, 0], [1, 1], [0, 1]], 2),  # fires at once, then holds
    "lower_right": ([[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]], 3),
    "centre": ([[0.25, 0.4], [0.75, 0.4], [0.75, 0.9], [0.25, 0.9]], 3),
    "lower": ([[0, 0.5], [1, 0.5], [1, 1], [0, 1]], 3),
    "left": ([[0, 0.25], [0.5, 0.25], [0.5, 1], [0, 1]], 5),
}


def report(title: str, **facts: object) -> None:
    print(f"\n[fault] {title}: " + "; ".join(f"{k}={v}" for k, v in facts.items()), flush=True)


# ---------------------------------------------------------------- the daemon and what it stored


def busy_camera(camera_id: str, source: str | Path, **extra: Any) -> dict[str, Any]:
    return {
        "id": camera_id,
        "source": str(source),
        "decode": "all",
        "analyze_fps": 2,
        "realtime": True,
        "location": PLAZA,
        "grid": "110101001001001",
        "zones": [{"name": name, "polygon": poly} for name, (poly, _) in ZONES.items()],
        "rules": [
            {
                "kind": "count_in_zone",
                "event_type": "crowd_gathering",
                "zone": name,
                "min_count": n,
                "min_duration": "1s",
                "cooldown": "5s",
                "urgent_ratio": 10,  # vtest's plaza holds 2 x n: keep these cases at the normal severity
            }  # fmt: skip
            for name, (_, n) in ZONES.items()
        ],
        **extra,
    }


def write_config(tmp_path: Path, broker_url: str, cameras: list[dict[str, Any]], **extra: Any) -> Path:
    """The config as JSON (a YAML subset): the sample grid and roster, a 20 s deadline for crowds."""
    config = {
        "site": {"id": SITE, "timezone": "Asia/Shanghai"},
        "mqtt": {"url": broker_url, "status_interval": "2s", "keepalive": 5},
        "storage": {"data_dir": "data"},
        "grid": {"cells": str(REPO / "config" / "grid.geojson"), "roster": str(REPO / "config" / "roster.yaml")},
        "event_types": {
            "crowd_gathering": {"severity": "normal", "deadline": "20s", "auto_register": True, "working_hours": False}
        },
        "console": {"enabled": False},
        "workers": 1,
        "cameras": cameras,
        **extra,
    }  # fmt: skip
    path = tmp_path / "sentinel.yaml"
    path.write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Stored:
    outbox_id: int  # of the alert's own message (publish order)
    alert_id: str
    camera_id: str
    started_at: str
    sent: bool  # every outbox row of the alert (its message, and a clip update if any) is acknowledged
    updates: int  # further messages about the alert (e.g. `.../clip`), same alert_id


def stored_alerts(db: Path) -> list[Stored]:
    """Alerts in the daemon's SQLite database, in outbox (= publish) order of their first message."""
    if not db.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
            rows = conn.execute(
                "SELECT min(o.id), a.id, a.camera_id, a.payload, min(o.sent_at IS NOT NULL), count(o.id) "
                "FROM outbox o JOIN alerts a ON o.alert_id = a.id GROUP BY a.id ORDER BY min(o.id)"
            ).fetchall()
    except sqlite3.OperationalError:  # the schema is being created
        return []
    return [Stored(r[0], r[1], r[2], json.loads(r[3])["started_at"], bool(r[4]), r[5] - 1) for r in rows]


def outbox_drained(db: Path) -> bool:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0] == 0


class TimedRecorder(Recorder):
    """A Recorder with the alerts and their later updates picked out, with arrival times."""

    def alerts(self) -> list[tuple[float, dict[str, Any]]]:
        with self._cond:
            pairs = list(zip(self.times, self.messages, strict=True))
        return [(t, m.json()) for t, m in pairs if is_alert_topic(m.topic)]

    def updates(self) -> list[dict[str, Any]]:
        """Later messages about an alert (`{p}/alerts/{type}/{camera}/clip`)."""
        with self._cond:
            return [
                m.json()
                for m in self.messages
                if m.topic.startswith(f"{PREFIX}/alerts/") and not is_alert_topic(m.topic)
            ]

    def wait_subscribed(self, port: int, timeout: float = 20) -> None:
        """Publish probes until one comes back: the subscription is live."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                mqtt_publish.single(f"{PREFIX}/probe", token, qos=1, hostname=HOST, port=port)
            with self._cond:
                if any(m.topic == f"{PREFIX}/probe" and m.payload == token.encode() for m in self.messages):
                    return
                self._cond.wait(0.3)
        raise AssertionError("the recorder did not get its probe back")


def is_alert_topic(topic: str) -> bool:
    """`{p}/alerts/{event_type}/{camera_id}`: an alert's own message."""
    return topic.startswith(f"{PREFIX}/alerts/") and topic.count("/") == PREFIX.count("/") + 3


def wait_until(pred: Callable[[], Any], timeout: float, what: str, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"waited {timeout} s for {what}")


def first_seen_order(alerts: list[dict[str, Any]], camera_id: str) -> list[str]:
    order: list[str] = []
    for a in alerts:
        if a["camera_id"] == camera_id and a["alert_id"] not in order:
            order.append(a["alert_id"])
    return order


def assert_nothing_lost(
    stored: list[Stored], received: list[dict[str, Any]], updates: list[dict[str, Any]]
) -> dict[str, int]:
    """Every stored alert arrived; nothing arrived that was not stored; in order per camera; one id per event;
    every update about an alert (clip) arrived too."""
    stored_ids = [s.alert_id for s in stored]
    got_ids = [a["alert_id"] for a in received]
    missing = set(stored_ids) - set(got_ids)
    assert not missing, f"{len(missing)} stored alerts never arrived: {sorted(missing)}"
    assert set(got_ids) <= set(stored_ids), f"published but not stored: {set(got_ids) - set(stored_ids)}"
    for camera in {s.camera_id for s in stored}:
        assert first_seen_order(received, camera) == [s.alert_id for s in stored if s.camera_id == camera]
    events: dict[tuple[str, str | None, str], set[str]] = {}
    for a in received:
        events.setdefault((a["camera_id"], a["zone"], a["started_at"]), set()).add(a["alert_id"])
    twice = {k: v for k, v in events.items() if len(v) > 1}
    assert not twice, f"the same event published under several ids: {twice}"
    expected_updates = {s.alert_id for s in stored if s.updates}
    missing_updates = expected_updates - {u["alert_id"] for u in updates}
    assert not missing_updates, f"updates (clips) of {len(missing_updates)} alerts never arrived"
    return {
        "stored": len(stored_ids), "received": len(got_ids), "duplicates": len(got_ids) - len(set(got_ids)),
        "updates": sum(s.updates for s in stored),
    }  # fmt: skip


# ---------------------------------------------------------------- broker outage


@pytest.mark.slow
def test_broker_outage_loses_nothing(tmp_path: Path) -> None:
    """mosquitto is killed for 30 s while two cameras keep raising alerts; after it is back every stored
    alert arrives, in order per camera, once per alert_id after de-duplication; `{p}/health` shows the
    backlog draining."""
    footage = vtest_h264(768, 576, fps=10, gop=10)  # H.264, like the cameras
    with Mosquitto() as broker:
        gate = GatedPort(broker.port)
        recorder = TimedRecorder(broker.port, f"{PREFIX}/#")
        config = write_config(
            tmp_path,
            f"mqtt://{HOST}:{gate.port}",
            [busy_camera("cam-a", footage), busy_camera("cam-b", footage)],
        )
        db = tmp_path / "data" / "sentinel.db"
        daemon = Daemon(config)
        try:
            recorder.wait_for(lambda m: "/alerts/" in m.topic, timeout=90, count=2)
            recorder.wait_for(lambda m: m.topic == f"{PREFIX}/health", timeout=10)
            before = len(stored_alerts(db))

            broker.stop()  # SIGKILL, like a crash of the broker host
            gate.shut()
            t_down = time.monotonic()
            time.sleep(30)
            during = [s for s in stored_alerts(db)[before:] if not s.sent]
            assert len(during) >= 2, "too few alerts during the outage to prove anything"
            assert daemon.proc.poll() is None

            broker.start()
            recorder.wait_subscribed(broker.port)
            gate.open()
            t_back = time.monotonic()
            outage = t_back - t_down
            wait_until(lambda: outbox_drained(db), 90, "the outbox to drain")
            backlog = {s.alert_id for s in during}
            recovered = max(t for t, a in recorder.alerts() if a["alert_id"] in backlog) - t_back
            health = [m.json() for m in recorder.messages if m.topic == f"{PREFIX}/health"]
            recorder.wait_for(
                lambda m: m.topic == f"{PREFIX}/health" and m.json()["outbox_depth"] == 0
                and m.json()["cameras"] == {"online": 2, "total": 2},
                timeout=15,
            )  # fmt: skip
        finally:
            code = daemon.stop()
            recorder.close()
            gate.shut()
        assert code == 0, daemon.output()
        stored = stored_alerts(db)
        counts = assert_nothing_lost(stored, [a for _, a in recorder.alerts()], recorder.updates())
        assert any(h["outbox_depth"] for h in health), health  # the backlog was visible
        log = daemon.output()
        assert "alerts wait in the outbox" in log and "Traceback" not in log
        report(
            "broker outage", outage_s=round(outage, 1), stored_during_outage=len(during), **counts,
            lost=0, recovered_s=round(recovered, 1),
            max_health_depth=max(h["outbox_depth"] or 0 for h in health),
        )  # fmt: skip


# ---------------------------------------------------------------- kill -9


def _case_messages(recorder: Recorder, case_id: str) -> list[dict[str, Any]]:
    return [
        m.json()
        for m in recorder.messages
        if m.topic.startswith(f"{PREFIX}/cases/") and m.json()["case_id"] == case_id
    ]


@pytest.mark.slow
def test_kill_9_loses_nothing_and_case_timers_continue(tmp_path: Path) -> None:
    """`kill -9` the daemon right after it stored an alert; restart it on the same data dir: every stored alert
    is published (under its one id) and the case filed before the kill escalates after the restart."""
    footage = vtest_h264(768, 576, fps=10, gop=10)  # H.264, like the cameras
    with Mosquitto() as broker:
        recorder = TimedRecorder(broker.port, f"{PREFIX}/#")
        config = write_config(tmp_path, broker.url, [busy_camera("cam-a", footage)])
        db = tmp_path / "data" / "sentinel.db"
        first = Daemon(config, "daemon-1")
        first_procs: list[Proc] = []
        second: Daemon | None = None
        try:
            created = recorder.wait_for(lambda m: "/cases/" in m.topic, timeout=90)[0].json()
            case_id, t_case = created["case_id"], time.monotonic()
            assert created["assignee"] == "zhangli" and created["state"] == "dispatched", created
            n = len(stored_alerts(db))
            # kill as soon as the next alert is committed (its message may or may not be out yet)
            with contextlib.suppress(AssertionError):
                wait_until(lambda: len(stored_alerts(db)) > n, 8, "another alert", step=0.02)
            first_procs = descendants(first.proc.pid)  # its worker and multiprocessing's resource tracker
            first.kill()
            t_kill = time.monotonic()
            left_behind = wait_all_gone(first_procs, 5.0)
            assert t_kill - t_case < 20, "killed too late: the escalation would have fired already"
            at_kill = stored_alerts(db)
            unsent_at_kill = sum(not s.sent for s in at_kill)
            escalated_before = [c for c in _case_messages(recorder, case_id) if c["action"] == "escalate"]
            assert escalated_before == []
            time.sleep(2)

            second = Daemon(config, "daemon-2")
            escalation = recorder.wait_for(
                lambda m: "/cases/" in m.topic and m.json()["case_id"] == case_id and m.json()["action"] == "escalate",
                timeout=60,
            )[0].json()  # fmt: skip
            t_escalated = time.monotonic()
            wait_until(lambda: outbox_drained(db), 60, "the outbox to drain")
            recovered = wait_until(
                lambda: [t for t, a in recorder.alerts() if a["alert_id"] in {s.alert_id for s in at_kill}]
                and max(t for t, a in recorder.alerts() if a["alert_id"] in {s.alert_id for s in at_kill}),
                30,
                "the alerts stored before the kill",
            )  # fmt: skip
        finally:
            if first.proc.poll() is None:
                first.kill()
            for proc in first_procs:  # should any have outlived it
                proc.kill()
            code = second.stop() if second is not None else None
            recorder.close()
        assert code == 0, second.output() if second else ""
        assert len(first_procs) >= 2 and left_behind == [], f"alive 5 s after kill -9: {left_behind}"
        assert escalation["assignee"] == "gaoxiang" and escalation["escalation"]["level"] >= 1, escalation
        stored = stored_alerts(db)
        counts = assert_nothing_lost(stored, [a for _, a in recorder.alerts()], recorder.updates())
        with contextlib.closing(sqlite3.connect(db)) as conn:
            steps = conn.execute(
                "SELECT action, actor FROM case_transitions WHERE case_id = ? ORDER BY id", (case_id,)
            ).fetchall()
        assert ("escalate", "sentinel") in steps, steps
        assert "Traceback" not in second.output() if second else True
        report(
            "kill -9", alerts_at_kill=len(at_kill), unsent_at_kill=unsent_at_kill, **counts, lost=0,
            restart_to_backlog_out_s=round(max(0.0, recovered - t_kill - 2), 1),
            case_escalated_after_s=round(t_escalated - t_case, 1), steps=[a for a, _ in steps],
        )  # fmt: skip


# ---------------------------------------------------------------- a full disk


def _event(camera_id: str = "cam1") -> Any:
    from sentinel.detect.rules import RuleEvent, SeenObject

    now = time.time()
    return RuleEvent(camera_id, "count_in_zone", "crowd_gathering", "plaza", now - 5, now, 3, 0.8,
                     [SeenObject("person", 0.8, (0.1, 0.2, 0.3, 0.9), 7)], None)  # fmt: skip


def _intake(data_dir: Path) -> Any:
    from sentinel.alerts.snapshot import SnapshotStore
    from sentinel.alerts.store import AlertStore
    from sentinel.config.event_types import default_event_types
    from sentinel.daemon.intake import AlertIntake
    from sentinel.storage.db import make_engine, migrate

    engine = make_engine(f"sqlite:///{data_dir / 'sentinel.db'}")
    migrate(engine)
    return AlertIntake(
        SITE,
        PREFIX,
        ZoneInfo("Asia/Shanghai"),
        AlertStore(engine),
        SnapshotStore(data_dir),
        default_event_types(),
        None,
    )


@contextlib.contextmanager
def tiny_filesystem(path: Path, size: str = "64k") -> Iterator[None]:
    path.mkdir(parents=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs to fill up (needs root/CAP_SYS_ADMIN): {proc.stderr.decode().strip()}"
        )
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.parametrize("fault", ["snapshots_is_a_file", "day_folder_is_a_file", "disk_full"])
def test_snapshot_write_failure_still_stores_and_publishes_the_alert(
    tmp_path: Path, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    from sentinel.config.models import CameraConfig
    from sentinel.mqtt.publisher import BrokerAddress, MqttPublisher
    from sentinel.pipeline.snapshot import render_snapshot

    data = tmp_path / "data"
    data.mkdir()
    snapshots = data / "snapshots"
    day = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")
    cleanup = contextlib.ExitStack()
    if fault == "snapshots_is_a_file":
        snapshots.write_text("not a folder")
    elif fault == "day_folder_is_a_file":
        snapshots.mkdir()
        (snapshots / day).write_text("not a folder")
    else:
        cleanup.enter_context(tiny_filesystem(snapshots))
        with contextlib.suppress(OSError), open(snapshots / "filler", "wb") as fh:
            while True:
                fh.write(os.urandom(4096))
                fh.flush()
    intake = _intake(data)
    camera = CameraConfig.model_validate({"id": "cam1", "source": "/x.mp4", "location": PLAZA})
    import numpy as np

    jpeg = render_snapshot(np.full((120, 160, 3), 90, np.uint8), [], None)
    with cleanup, Mosquitto() as broker, caplog.at_level("ERROR"):
        recorder = Recorder(broker.port, f"{PREFIX}/alerts/#")
        alert = intake.accept(_event(), jpeg, camera)
        assert alert is not None and alert.snapshot is None
        row = intake.store.alert(alert.alert_id)
        assert row is not None and row.snapshot_path is None and row.payload["snapshot"] is None
        pub = MqttPublisher(BrokerAddress.parse(broker.url), PREFIX, intake.store, client_id="t-disk")
        pub.start()
        try:
            got = recorder.wait_for(lambda m: m.json()["alert_id"] == alert.alert_id, timeout=15)[0].json()
        finally:
            pub.stop()
            recorder.close()
            intake.store.engine.dispose()
    assert got["snapshot"] is None
    why = [r.getMessage() for r in caplog.records if "cannot write snapshot" in r.getMessage()]
    assert why and alert.alert_id in why[0], caplog.text
    expected = {"snapshots_is_a_file": "Not a directory", "day_folder_is_a_file": "exists and is not a folder"}
    reason = expected.get(fault, os.strerror(errno.ENOSPC))
    assert reason in why[0], why[0]
    report("snapshot write fails", fault=fault, alert="stored and published, snapshot null", log=why[0])


# ---------------------------------------------------------------- streams that go wrong


def _mixed_resolution(tmp: Path) -> Path:
    """One H.264 stream (MPEG-TS): 8 s of 1280x720, then 8 s of 1024x576 (a new SPS mid-stream), timestamps
    running on across the switch."""
    out = tmp / "mixed.ts"
    parts = []
    for i, (w, h) in enumerate([(1280, 720), (1024, 576)]):
        part = tmp / f"part{i}.ts"
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-ss", str(8 * i), "-t", "8", "-i", str(VTEST_AVI),
             "-vf", f"scale={w}:{h}", "-r", "10", "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "main",
             "-bf", "0", "-g", "10", "-x264-params", "repeat-headers=1:scenecut=0", "-pix_fmt", "yuv420p",
             "-output_ts_offset", str(8 * i), "-f", "mpegts", str(part)],
            check=True, timeout=120,
        )  # fmt: skip
        parts.append(part.read_bytes())
    out.write_bytes(b"".join(parts))
    return out


def _corrupted(tmp: Path) -> Path:
    """A 10 s H.264 MP4 with bytes flipped all through its middle third: the MP4 index is intact, the frames
    it points to are damaged (checked: ffmpeg reports decode errors)."""
    clean = tmp / "clean.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-t", "10", "-i", str(VTEST_AVI), "-r", "10",
         "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "10", "-pix_fmt", "yuv420p", str(clean)],
        check=True, timeout=120,
    )  # fmt: skip
    data = bytearray(clean.read_bytes())
    rng = random.Random(6)
    for pos in range(len(data) // 3, 2 * len(data) // 3, 1500):
        for k in range(pos, min(pos + 24, len(data))):
            data[k] ^= rng.randrange(1, 256)
    out = tmp / "corrupt.mp4"
    out.write_bytes(bytes(data))
    check = subprocess.run(
        ["ffmpeg", "-hide_banner", "-v", "error", "-i", str(out), "-f", "null", "-"],
        capture_output=True,
        timeout=60,
    )
    assert check.stderr.strip(), "the damaged file decodes cleanly: the corruption missed"
    return out


class GarbageServer:
    """A TCP server that answers every connection with random bytes (not RTSP)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((HOST, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        rng = random.Random(1)
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with contextlib.suppress(OSError), conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                for _ in range(8):
                    conn.sendall(bytes(rng.randrange(256) for _ in range(512)))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def stream_camera(camera_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": camera_id, "source": url, "decode": "all", "analyze_fps": 1, "open_timeout": 4, "read_timeout": 4,
        "stall_timeout": 4, "offline_alert_after": "1h", **extra,
    }  # fmt: skip


def latest_status(recorder: Recorder, camera_id: str) -> dict[str, Any] | None:
    topic = f"{PREFIX}/cameras/{camera_id}/status"
    with recorder._cond:
        for m in reversed(recorder.messages):
            if m.topic == topic:
                return dict(m.json())
    return None


def statuses(recorder: Recorder, camera_id: str) -> list[dict[str, Any]]:
    topic = f"{PREFIX}/cameras/{camera_id}/status"
    with recorder._cond:
        return [m.json() for m in recorder.messages if m.topic == topic]


CLEAR_REASONS = (
    "stream not found (404)", "authentication failed (401", "invalid data", "no answer in time",
    "no frame for", "stream ended", "connection refused",
)  # fmt: skip


def assert_clear_error(error: str | None, masked_url: str) -> None:
    """An operator can act on it: which stream (password masked) and what went wrong, one line."""
    assert error and error.startswith(f"{masked_url}: "), (error, masked_url)
    assert any(r in error for r in CLEAR_REASONS) and "\n" not in error, error


@pytest.mark.slow
def test_bad_streams_get_clear_errors_and_the_others_keep_running(tmp_path: Path) -> None:
    """One daemon, seven cameras: a good one, 404, 401, a garbage server, a resolution change mid-stream,
    corrupt packets, and one whose server stalls (SIGSTOP) and comes back. Each gets a clear status; the
    good one never notices."""
    good = vtest_h264(768, 576, fps=10, gop=10)
    mixed, corrupt = _mixed_resolution(tmp_path), _corrupted(tmp_path)
    wrong_password = "Wr0ng-pa55-7d1c"
    garbage = GarbageServer()
    with (
        RtspServer({"good": good, "mixed": mixed}) as main,
        RtspServer({"locked": good}, user="viewer", password="Right-pa55-93b2") as locked,
        RtspServer({"stall": good}) as stalling,
        Mosquitto() as broker,
    ):
        recorder = TimedRecorder(broker.port, f"{PREFIX}/cameras/#")
        urls = {
            "good": main.url("good"),
            "notfound": main.url("good").replace("/good", "/nothing-here"),
            "badpass": f"rtsp://viewer:${{BADPASS}}@{HOST}:{locked.port}/locked",
            "garbage": f"rtsp://{HOST}:{garbage.port}/live",
            "mixed": main.url("mixed"),
            # damaged frames come from a recording: GStreamer's RTSP server wedges on them before any client
            # sees one (tsdemux/h264parse), so the reader meets them through the file path instead
            "corrupt": str(corrupt),
            "stall": stalling.url("stall"),
        }
        masked = {**urls, "badpass": f"rtsp://viewer:***@{HOST}:{locked.port}/locked"}
        config = write_config(tmp_path, broker.url, [stream_camera(c, u) for c, u in urls.items()], workers=2)
        daemon = Daemon(config, env={"BADPASS": wrong_password})
        try:
            for cam in ("good", "mixed", "corrupt", "stall"):  # each is online at least once
                recorder.wait_for(
                    lambda m, c=cam: m.topic.endswith(f"/{c}/status") and m.json()["state"] == "online", 60
                )
            errors = {}
            for cam in ("notfound", "badpass", "garbage"):
                errors[cam] = recorder.wait_for(
                    lambda m, c=cam: m.topic.endswith(f"/{c}/status") and m.json()["state"] == "offline"
                    and bool(m.json()["error"]),
                    60,
                )[0].json()["error"]  # fmt: skip
                assert_clear_error(errors[cam], masked[cam])
            assert "stream not found (404)" in errors["notfound"], errors
            assert "authentication failed (401 Unauthorized)" in errors["badpass"], errors
            assert "invalid data" in errors["garbage"], errors
            assert garbage.connections >= 1

            # the mixed (16 s) and corrupt (10 s) streams play past their switch / damaged middle, twice
            time.sleep(20)
            seen = {c: statuses(recorder, c) for c in ("mixed", "corrupt")}

            stalling.pause()  # no frames, the TCP connection stays open
            t_pause = time.monotonic()
            stalled = recorder.wait_for(
                lambda m: m.topic.endswith("/stall/status") and m.json()["state"] == "offline", 30
            )[0].json()  # fmt: skip
            detected = time.monotonic() - t_pause
            time.sleep(6)  # a few reopen attempts against the wedged server
            stalling.resume()
            t_resume = time.monotonic()
            n_before = len(statuses(recorder, "stall"))
            wait_until(
                lambda: any(s["state"] == "online" for s in statuses(recorder, "stall")[n_before:]), 60,
                "the stalled camera to come back",
            )  # fmt: skip
            back = time.monotonic() - t_resume
            good_now = latest_status(recorder, "good")
            assert daemon.proc.poll() is None
        finally:
            code = daemon.stop()
            recorder.close()
            garbage.close()
        assert code == 0, daemon.output()
        log = daemon.output()
        assert wrong_password not in log and "Traceback" not in log
        everything = b"".join(m.payload for m in recorder.messages).decode(errors="replace")
        assert wrong_password not in everything

        good_states = {s["state"] for s in statuses(recorder, "good")} - {"connecting", "stopped"}
        assert good_states == {"online"} and good_now is not None and good_now["reconnects"] == 0, statuses(
            recorder, "good"
        )
        assert_clear_error(stalled["error"], masked["stall"])
        mixed_final = seen["mixed"][-1]
        assert mixed_final["state"] == "online" and mixed_final["frames"] >= 20, seen["mixed"]
        assert mixed_final["reconnects"] == 0, seen["mixed"]  # a new resolution is not a failure
        for status in seen["corrupt"]:  # recovers, or says clearly what is wrong
            if status["state"] == "offline":
                assert_clear_error(status["error"], masked["corrupt"])
        assert seen["corrupt"][-1]["frames"] >= 10, seen["corrupt"]  # it keeps delivering frames
        corrupt_errors = sorted({s["error"].split(": ", 1)[1] for s in seen["corrupt"] if s["error"]})
        report(
            "bad streams", **{f"{c}_error": e for c, e in errors.items()},
            mixed=f"online, reconnects {mixed_final['reconnects']}, frames {mixed_final['frames']}",
            corrupt=f"{seen['corrupt'][-1]['state']}, reconnects {seen['corrupt'][-1]['reconnects']}",
            corrupt_errors=corrupt_errors, stall_detected_s=round(detected, 1), stall_error=stalled["error"],
            stall_back_after_resume_s=round(back, 1), good="online throughout, 0 reconnects",
        )  # fmt: skip


def test_corrupt_packets_do_not_reopen_the_stream(tmp_path: Path) -> None:
    """A recording with damaged frames in its middle third, read as fast as possible: the reader should decode
    past the damage (concealing or skipping frames), not reopen the file from the start again and again."""
    from sentinel.config.models import CameraConfig
    from sentinel.ingest.reader import StreamReader

    corrupt = _corrupted(tmp_path)
    camera = CameraConfig.model_validate(
        {
            "id": "c",
            "source": str(corrupt),
            "decode": "all",
            "analyze_fps": 5,
            "realtime": False,
            "loop": False,
        }
    )
    frames: list[float] = []
    reader = StreamReader(camera, lambda f: frames.append(f.ts), lambda _st: None)
    reader.start()
    reader.join(8)  # ~1 s of work when read as fast as possible
    reader.stop()
    status = reader.status()
    assert status.reconnects == 0 and status.state == "stopped", status  # read to the end once
    assert len(frames) >= 45, len(frames)  # ~10 s at 5 fps, give or take the damaged frames
