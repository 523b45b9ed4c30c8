"""A cluster of `sentinel run` nodes on loopback for the tests and bench/failover.py: 12 RTSP cameras, a
shared PostgreSQL and mosquitto, one config per node; and readers of what the nodes publish (which node ran
which camera when)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinel.cluster.overview import cluster_overview
from tests.mqtt_helpers import Recorder
from tests.support.servers import Mosquitto, RtspServer

REPO = Path(__file__).resolve().parents[2]
PREFIX = "sentinel/cl"
NODES = ("node-a", "node-b", "node-c")
CAMERAS = [f"cam{i:02d}" for i in range(12)]
# three cameras per grid: alerts of a grid join one case, so there are four cases with timers to fire
GRIDS = [("110101001001001", 116.3972, 39.90875), ("110101001001002", 116.3992, 39.90875),
         ("110101001001003", 116.395, 39.9085), ("110101001001004", 116.397, 39.9055)]  # fmt: skip
TTL, RENEW = 6.0, 2.0


def write_configs(
    tmp_path: Path,
    broker: Mosquitto,
    rtsp: RtspServer,
    db_url: str,
    ttl: float = TTL,
    renew: float = RENEW,
    console_port: int | None = None,
) -> dict[str, Path]:
    """One config per node (the same but for node.id); `console_port`: the first node serves its console."""
    cameras = ["cameras:"]
    for i, camera in enumerate(CAMERAS):
        grid, lon, lat = GRIDS[i // 3]
        cameras += [
            f"  - id: {camera}",
            f'    source: "{rtsp.url(camera)}"',
            "    decode: keyframes",
            "    analyze_fps: 0.5",
            f"    location: {{lon: {lon}, lat: {lat}}}",
            f'    grid: "{grid}"',
            "    rules:",
            "      - {kind: count_in_zone, event_type: crowd_gathering, classes: [person], min_count: 1, "
            "min_duration: 2s, cooldown: 15s}",
        ]
    (tmp_path / "cameras.yaml").write_text("\n".join(cameras) + "\n", encoding="utf-8")
    configs = {}
    for node in NODES:
        path = tmp_path / f"{node}.yaml"
        serves = console_port is not None and node == NODES[0]
        console = (
            f"{{enabled: true, host: 127.0.0.1, port: {console_port}}}" if serves else "{enabled: false}"
        )
        path.write_text(
            f"""\
site: {{id: cl, timezone: Asia/Shanghai}}
mqtt: {{url: "{broker.url}", status_interval: 1s}}
database: {{url: "{db_url}"}}
node: {{id: {node}, lease_ttl: {ttl:g}s, renew_interval: {renew:g}s}}
storage: {{data_dir: shared}}
grid: {{cells: {REPO / "config" / "grid.geojson"}, roster: {REPO / "config" / "roster.yaml"}}}
event_types:
  crowd_gathering: {{severity: normal, auto_register: true, deadline: 24s, working_hours: false}}
workers: 1
console: {console}
cameras_file: cameras.yaml
""",
            encoding="utf-8",
        )
        configs[node] = path
    return configs


@dataclass
class Stint:
    """A node running a camera: from its first status to its last (or to its 'stopped')."""

    node: str
    start: float
    end: float
    frames: int


def stints(rec: Recorder) -> dict[str, list[Stint]]:
    """Per camera, the stretches of time each node reported it running, in order."""
    out: dict[str, list[Stint]] = defaultdict(list)
    for t, m in rec.timed():
        parts = m.topic.split("/")
        if len(parts) != 5 or parts[2] != "cameras" or parts[4] != "status" or not m.payload or m.retain:
            continue
        status = m.json()
        node, camera = status.get("node"), parts[3]
        runs = out[camera]
        if runs and runs[-1].node == node and runs[-1].end >= 0:
            runs[-1].end, runs[-1].frames = t, max(runs[-1].frames, int(status["frames"]))
        else:
            runs.append(Stint(node, t, t, int(status["frames"])))
        if status["state"] == "stopped":
            runs[-1].end = -t  # closed: the next status from this node starts a new stint
    for runs in out.values():
        for run in runs:
            run.end = abs(run.end)
    return out


def owners(engine: Any) -> Counter[str]:
    return Counter({n.node.id: len(n.leases) for n in cluster_overview(engine).nodes if n.node.alive})


def wait_until(pred: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout} s: {what}")


def is_alert(topic: str) -> bool:
    parts = topic.split("/")
    return len(parts) == 5 and parts[2] == "alerts"


def rec_has_frames(rec: Recorder, camera: str) -> bool:
    runs = stints(rec).get(camera, [])
    return bool(runs) and runs[-1].frames > 0
