"""The test rig of `bench/cameras.py`: footage, simulated cameras, a broker, and the meters that read them.

* `check_tools()`: mosquitto, ffmpeg and the GStreamer RTSP server are installed (else `BenchError` naming
  `sh scripts/setup.sh --test`).
* `footage_variants()`: one H.264 file per camera, the same footage started at a different point
  (stream copy through ffmpeg's concat demuxer: no re-encode, ~0.1 s each), so cameras do not all see the
  same people at the same moment.
* `StaggeredRtspServer`: `tests.support.servers.RtspServer` whose feeders start a fraction of a GOP apart,
  so the cameras' keyframes do not all arrive in the same instant (real cameras are not in phase).
* `TreeMeter`: CPU seconds (utime + stime) and RSS/PSS (`/proc/PID/smaps_rollup`) of a process tree.
* `scrape_metrics()`: the console's Prometheus `/metrics`, parsed.
* `MqttWatch`: alerts (with their arrival time), camera status and health from the broker.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import paho.mqtt.client as mqtt
import psutil
from prometheus_client.parser import text_string_to_metric_families

from sentinel.mqtt.topics import AlertTopic, CameraStatusTopic, HealthTopic, Topics
from tests.support.servers import MOSQUITTO, SYSTEM_PYTHON, RtspServer

SETUP_HINT = "sh scripts/setup.sh --test installs them"


class BenchError(Exception):
    """A problem the user can act on; printed as one message, never a traceback."""


class MissingTool(BenchError):
    """Something the rig needs is not installed."""


# ---------------------------------------------------------------- prerequisites and footage


def check_tools() -> None:
    missing = []
    if not Path(MOSQUITTO).is_file():
        missing.append(f"mosquitto ({MOSQUITTO})")
    if shutil.which("ffmpeg") is None:
        missing.append("ffmpeg")
    probe = [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"]
    try:
        ok = subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        missing.append(
            f"the GStreamer RTSP server for {SYSTEM_PYTHON} (gir1.2-gst-rtsp-server-1.0, python3-gst-1.0)"
        )
    if missing:
        raise MissingTool(f"not installed: {'; '.join(missing)}. {SETUP_HINT}.")


def default_footage() -> Path:
    """vtest.avi as 720p H.264, 25 fps, GOP 50 (transcoded once, cached under var/cache/footage)."""
    import pytest

    from tests.support.footage import vtest_h264

    try:
        return vtest_h264(1280, 720, fps=25, gop=50)
    except pytest.skip.Exception as exc:  # footage.py skips the calling test when a package is missing
        raise MissingTool(f"{exc.msg}; {SETUP_HINT}") from None


@dataclass(frozen=True)
class Footage:
    path: Path
    duration: float
    fps: float
    width: int
    height: int


def probe_footage(path: Path) -> Footage:
    if not path.is_file():
        raise BenchError(f"footage {path}: no such file")
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise BenchError(f"footage {path}: no video stream")
            s = c.streams.video[0]
            if s.codec_context.name != "h264":
                raise BenchError(
                    f"footage {path}: video is {s.codec_context.name}, the RTSP rig serves H.264 only "
                    f"(convert: ffmpeg -i {shlex.quote(str(path))} -an -c:v libx264 -bf 0 -g 50 out.mp4)"
                )
            duration = float(c.duration or 0) / 1e6 or float((s.duration or 0) * (s.time_base or 0))
            fps = float(s.average_rate or 25)
            return Footage(path, duration, fps, s.codec_context.width, s.codec_context.height)
    except av.error.FFmpegError as exc:
        raise BenchError(f"footage {path}: cannot read it ({exc})") from None


def footage_variants(footage: Footage, count: int, out_dir: Path) -> list[Path]:
    """`count` files: the footage started at i/count of its length and wrapped round (stream copy)."""
    out: list[Path] = []
    distinct = max(1, min(count, int(footage.duration // 4)))  # at least ~4 s between starting points
    for i in range(distinct):
        start = round(footage.duration * i / distinct, 3)
        if i == 0 or start <= 0:
            out.append(footage.path)
            continue
        listing = out_dir / f"rotate{i}.txt"
        quoted = str(footage.path).replace("'", "'\\''")
        listing.write_text(f"file '{quoted}'\ninpoint {start}\nfile '{quoted}'\noutpoint {start}\n")
        target = out_dir / f"camera{i}{footage.path.suffix or '.mp4'}"
        cmd = [
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
            "-i", str(listing), "-map", "0:v:0", "-c", "copy", str(target),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or not target.is_file():
            out.append(footage.path)  # an odd container: fall back to the same start for this camera
        else:
            out.append(target)
    return [out[i % distinct] for i in range(count)]


class StaggeredRtspServer(RtspServer):
    """`RtspServer` whose feeder for mount i starts `delays[mount]` seconds late (a fraction of a GOP)."""

    def __init__(self, mounts: Mapping[str, Path], delays: Mapping[str, float], **kwargs: Any) -> None:
        self._delays = {"/" + k.strip("/"): v for k, v in delays.items()}
        super().__init__(mounts, **kwargs)

    def _feeder_argv(self, mount: str, file: Path) -> list[str]:
        argv = super()._feeder_argv(mount, file)
        delay = self._delays.get(mount, 0.0)
        if delay <= 0:
            return argv
        return ["/bin/sh", "-c", f'sleep {delay:.3f}; exec "$@"', "feeder", *argv]

    def pids(self) -> list[int]:
        return [c.proc.pid for c in self._children() if c.alive]


# ---------------------------------------------------------------- meters


def _smaps_rollup(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes; (0, 0) if the process is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return rss, pss


def role_of(proc: psutil.Process, root: int) -> str:
    if proc.pid == root:
        return "main"
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "other"
    if "resource_tracker" in cmd:
        return "resource_tracker"
    if "spawn_main" in cmd or "multiprocessing-fork" in cmd:
        return "worker"
    return os.path.basename(proc.cmdline()[0]) if proc.cmdline() else "other"


class TreeMeter:
    """CPU and memory of a process and all its descendants (found afresh at every reading)."""

    def __init__(self, pids: Iterable[int], recursive: bool = True) -> None:
        self.roots = list(pids)
        self.recursive = recursive

    def processes(self) -> list[psutil.Process]:
        procs: dict[int, psutil.Process] = {}
        for pid in self.roots:
            try:
                root = psutil.Process(pid)
                procs[pid] = root
                if self.recursive:
                    procs.update({p.pid: p for p in root.children(recursive=True)})
            except psutil.Error:
                continue
        return list(procs.values())

    def cpu(self) -> dict[int, tuple[str, float]]:
        """pid → (role, user + system CPU seconds so far)."""
        out: dict[int, tuple[str, float]] = {}
        for p in self.processes():
            try:
                t = p.cpu_times()
                out[p.pid] = (role_of(p, self.roots[0]), t.user + t.system)
            except psutil.Error:
                continue
        return out

    def memory(self) -> tuple[int, int, int]:
        """(RSS sum, PSS sum, processes) in bytes."""
        rss = pss = n = 0
        for p in self.processes():
            r, s = _smaps_rollup(p.pid)
            if r:
                rss, pss, n = rss + r, pss + s, n + 1
        return rss, pss, n


def cpu_used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per role between two readings (a process born in between counts from zero; one that
    died in between is lost: the caller sees it in the process count)."""
    roles: dict[str, float] = {}
    workers = sorted(pid for pid, (role, _) in after.items() if role == "worker")
    for pid, (role, total) in after.items():
        name = f"worker{workers.index(pid)}" if role == "worker" else role
        roles[name] = roles.get(name, 0.0) + max(0.0, total - before.get(pid, (role, 0.0))[1])
    return roles


# ---------------------------------------------------------------- daemon observability


def scrape_metrics(
    port: int, token: str, timeout: float = 10.0
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `/metrics`: (name, sorted labels) → value."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        text = resp.read().decode()
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def by_label(
    samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float], name: str, label: str
) -> dict[str, float]:
    return {dict(k[1]).get(label, ""): v for k, v in samples.items() if k[0] == name}


@dataclass(frozen=True)
class AlertSeen:
    alert_id: str
    camera_id: str
    event_type: str
    detected_at: float  # epoch seconds (the analysed frame's timestamp)
    arrived_at: float  # wall time it arrived here

    @property
    def latency(self) -> float:
        return self.arrived_at - self.detected_at


class MqttWatch:
    """Subscribes to `{prefix}/alerts/+/+`, the cameras' status and `{prefix}/health` on a broker."""

    def __init__(self, port: int, prefix: str) -> None:
        self.topics = Topics(prefix)
        self.alerts: dict[str, AlertSeen] = {}
        self.status: dict[str, dict[str, Any]] = {}
        self.health: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{os.getpid()}-{time.monotonic_ns()}"
        )
        self.client.on_message = self._on_message
        wanted = [(self.topics.alerts(), 1), (self.topics.camera_statuses(), 1), (self.topics.health(), 1)]
        self.client.on_connect = lambda c, *_: c.subscribe(wanted)
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            return
        with self._lock:
            about = self.topics.parse(msg.topic)
            if isinstance(about, HealthTopic):
                self.health = payload
            elif isinstance(about, CameraStatusTopic):
                self.status[about.camera_id] = payload
            elif isinstance(about, AlertTopic) and not about.clip:
                alert_id = str(payload.get("alert_id"))
                if alert_id not in self.alerts and not msg.retain:  # a repeat after a lost PUBACK: first wins
                    detected = datetime.fromisoformat(payload["detected_at"]).timestamp()
                    self.alerts[alert_id] = AlertSeen(
                        alert_id, str(payload.get("camera_id")), str(payload.get("event_type")), detected, now
                    )

    def snapshot(self) -> tuple[list[AlertSeen], dict[str, dict[str, Any]], dict[str, Any] | None]:
        with self._lock:
            return list(self.alerts.values()), dict(self.status), self.health

    def online(self, cameras: Iterable[str]) -> list[str]:
        with self._lock:
            return [c for c in cameras if self.status.get(c, {}).get("state") == "online"]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
