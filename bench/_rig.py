"""The test rig of `bench/cameras.py`: footage, simulated cameras, a broker, and the meters that read them.

* `check_tools()`: mosquitto, ffmpeg and the GStreamer RTSP server are installed (else `BenchError` naming
  `sh scripts/setup.sh --test`).
* `LoopRtspServer`: the simulated cameras, one RTSP server process (`bench/_loop_rtsp_server.py`) looping
  the footage from memory for every mount, each camera starting at a different point of it (so cameras do
  not all see the same people at the same moment) and a fraction of a GOP after the previous one (so their
  keyframes do not all arrive in the same instant: real cameras are not in phase).
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
from tests.support.servers import MOSQUITTO, SYSTEM_PYTHON, RtspServer, ServerError, _Child

LOOP_SERVER = Path(__file__).with_name("_loop_rtsp_server.py")

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
    probe = [
        SYSTEM_PYTHON,
        "-c",
        "import gi; gi.require_version('GstRtspServer', '1.0'); gi.require_version('GstApp', '1.0')",
    ]
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


def resolve_footage(what: str) -> Path:
    """`busy` (vtest 720p), `quiet` (bench/_quiet_footage.py, built once) or a file."""
    if what == "busy":
        return default_footage()
    if what == "quiet":
        from bench._quiet_footage import Quiet, quiet_street

        default_footage()  # its prerequisites (opencv-doc's vtest.avi, ffmpeg) named the same way
        if not Quiet().path().is_file():
            print("quiet footage: building it once (about a minute), then cached", flush=True)
        return quiet_street()
    return Path(what).expanduser().resolve()


FDS_PER_CAMERA = 16  # per process, generously: the RTSP server's client socket and its pipeline's
MB_PER_CAMERA = 60  # the daemon's PSS (~27 at 32 cameras) or the baseline's, whichever runs, and the rig's


def check_host(cameras: int) -> None:
    """Raise the open-file limit to its hard limit (children inherit it), then say plainly if this machine
    cannot host `cameras` cameras: too few file descriptors, memory or threads."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 256 + FDS_PER_CAMERA * cameras
    if soft < need and soft != resource.RLIM_INFINITY:
        target = need if hard == resource.RLIM_INFINITY else min(hard, max(need, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    problems = []
    if soft < need:
        problems.append(f"{need} open files per process, the hard limit is {hard} (raise it: ulimit -Hn, "
                        f"/etc/security/limits.conf)")  # fmt: skip
    avail = psutil.virtual_memory().available // 2**20
    if avail < 1024 + MB_PER_CAMERA * cameras:
        problems.append(f"about {1024 + MB_PER_CAMERA * cameras} MB of free memory, {avail} MB available")
    nproc, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    threads = 512 + 12 * cameras  # server 2 per client, baseline 1 + FFmpeg's decoder threads per camera
    if nproc != resource.RLIM_INFINITY and nproc < threads:
        problems.append(f"about {threads} threads, the process limit is {nproc} (ulimit -u)")
    if problems:
        raise BenchError(f"this machine cannot host {cameras} cameras: it needs " + "; ".join(problems))


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


class LoopRtspServer(RtspServer):
    """`bench/_loop_rtsp_server.py` behind `tests.support.servers.RtspServer`'s interface: one process,
    every mount looping its file from memory (`starts[mount]` seconds in, its clock `delays[mount]`
    seconds late), no feeder processes. `status()` reads the server's counters of frames pushed, skipped
    and late: whether the rig itself kept up."""

    def __init__(self, mounts: Mapping[str, Path], starts: Mapping[str, float], delays: Mapping[str, float],
                 **kwargs: Any) -> None:  # fmt: skip
        self._starts = {"/" + k.strip("/"): v for k, v in starts.items()}
        self._delays = {"/" + k.strip("/"): v for k, v in delays.items()}
        kwargs.setdefault("start_timeout", 60.0 + 0.2 * len(mounts))  # it demuxes the files first
        super().__init__(mounts, **kwargs)

    @property
    def status_path(self) -> Path:
        return self._tmp / "status.json"

    def start(self) -> None:
        if self._closed:
            raise ServerError("LoopRtspServer: start() after close()")
        if self.running:
            return
        self.stop()
        spec = self._tmp / "mounts.json"
        spec.write_text(json.dumps({"mounts": [
            {"path": m, "file": str(f), "start": self._starts.get(m, 0.0), "delay": self._delays.get(m, 0.0)}
            for m, f in self.mounts.items()
        ]}))  # fmt: skip
        argv = [SYSTEM_PYTHON, "-u", str(LOOP_SERVER), "--port", str(self.port), "--mounts", str(spec),
                "--status", str(self.status_path)]  # fmt: skip
        t0 = time.monotonic()
        server = _Child("rtsp_server", argv, self.server_log, stdin_pipe=True, stdout_pipe=True)
        self._server = server
        self._paused = False
        try:
            self.port = self._wait_ready(server, t0 + self._start_timeout)
        except BaseException:
            server.kill()
            raise
        self.ready_seconds = time.monotonic() - t0

    def pids(self) -> list[int]:
        return [c.proc.pid for c in self._children() if c.alive]

    def status(self) -> dict[str, Any]:
        """The server's counters (`{}` before its first report)."""
        try:
            return dict(json.loads(self.status_path.read_text()))
        except (OSError, ValueError):
            return {}


def rig_kept_up(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Frames the RTSP server pushed, skipped (it fell > 1 s behind) and pushed > 0.1 s late in between."""
    d: dict[str, Any] = {
        k: int(after.get(k, 0)) - int(before.get(k, 0)) for k in ("pushed", "skipped", "late")
    }
    total = d["pushed"] + d["skipped"]
    d["on_time_share"] = (d["pushed"] - d["late"]) / total if total else None
    return d


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
