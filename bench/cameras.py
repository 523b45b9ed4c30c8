"""How many cameras can one core watch? Size a server with the real daemon on simulated RTSP cameras.

    .venv/bin/python bench/cameras.py --cameras 8,16,32 --runs 3
    .venv/bin/python bench/cameras.py --cameras 8,16,32,64,100 --footage quiet  # the CPU curve, quiet street
    .venv/bin/python bench/cameras.py --cameras 16 --footage my_camera.mp4     # your own H.264 recording

For each camera count N it starts N RTSP cameras (one GStreamer RTSP server process looping the footage
from memory for every camera, `bench/_loop_rtsp_server.py`, each camera starting at a different point of
it and a fraction of a GOP apart), a mosquitto broker, and then, in turn on the same streams:

* Sentinel: `sentinel run` on a generated config (every camera with `count_in_zone` rules that fire whenever
  people come into view, SQLite in a temp dir, console on a free port for `/metrics`, decode mode `auto`,
  workers and detector threads as the daemon chooses). After all cameras are online and `--warmup` seconds
  more, it measures for `--seconds`: analysed frames per camera per second (asked: `--fps`), CPU seconds of
  the daemon's whole process tree per camera per second, RSS and PSS of that tree, the latency from an
  analysed frame's timestamp (its capture, `detected_at`) to its alert arriving at an MQTT subscriber, frames
  dropped (delivered but replaced before analysis) and the backlog (outbox depth; latency of the first
  half of the window against the second).
* Baseline: a plain script (`bench/_baseline.py`): a thread per camera decoding every frame with
  `cv2.VideoCapture(url, cv2.CAP_FFMPEG)`, the same detector on each camera's latest frame at the same rate.

"Cameras per core" is 1 / (CPU seconds per camera per second); the ratio is baseline CPU per camera over
Sentinel's, given only where both kept up; the baseline is not run at counts above the first where it
collapsed (`--baseline-max N` overrides). Footage (`--footage`): `busy` (vtest 720p), `quiet` (a still
street, noise, a person crossing now and then: bench/_quiet_footage.py) or a file. The rig (RTSP server,
broker) is never in the measured tree; its CPU and its frames sent on time are printed apart. The machine may be shared: every figure comes with the load average (`os.getloadavg()`).
With `--runs R` the phases alternate order and the summary gives medians of the runs. It prints figures;
it passes or fails nothing. Options: `--no-baseline`, `--no-clips`, `--model CARD` (another detector model
card, e.g. models/nanodet-g-416-int8.yaml, for both), `--json out.json`, `--keep` (the temp
dir with configs and logs). What each figure means: docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._report import keeps_rate, print_run, print_summary, summarise  # noqa: E402
from bench._rig import (  # noqa: E402
    BenchError,
    Footage,
    LoopRtspServer,
    MissingTool,
    MqttWatch,
    TreeMeter,
    by_label,
    check_host,
    check_tools,
    cpu_used,
    probe_footage,
    resolve_footage,
    rig_kept_up,
    scrape_metrics,
)
from tests.support.servers import Mosquitto, ServerError, _Child, _log_tail, free_port  # noqa: E402

PREFIX = "sentinel/bench"
GOP_SPREAD_S = 2.0  # feeders start up to this far apart (vtest: one keyframe every 2 s)


def camera_ids(n: int) -> list[str]:
    return [f"cam{i + 1:02d}" for i in range(n)]


# ---------------------------------------------------------------- the daemon's config


def camera_yaml(cam_id: str, url: str, fps: float, clips: bool) -> str:
    clip = "" if clips else "\n    clip_pre: 0\n    clip_post: 0"
    return f"""
  - id: {cam_id}
    source: "{url}"
    analyze_fps: {fps}
    location: {{lon: 116.3975, lat: 39.9087}}{clip}
    zones:
      - {{name: near_left, polygon: [[0, 0.6], [0.5, 0.6], [0.5, 1], [0, 1]]}}
      - {{name: near_right, polygon: [[0.5, 0.6], [1, 0.6], [1, 1], [0.5, 1]]}}
    rules:   # someone comes into view (after 5 s without anyone there): the scene, the near half
      - {{kind: count_in_zone, event_type: crowd_gathering, classes: [person], min_count: 1, min_duration: 0, cooldown: 0}}
      - {{kind: count_in_zone, event_type: crowd_gathering, zone: near_left, min_count: 1, min_duration: 0, cooldown: 0}}
      - {{kind: count_in_zone, event_type: crowd_gathering, zone: near_right, min_count: 1, min_duration: 0, cooldown: 0}}
"""


def write_config(run_dir: Path, broker_port: int, console_port: int, urls: dict[str, str], fps: float, clips: bool,
                 model: Path | None = None) -> Path:  # fmt: skip
    cameras = "".join(camera_yaml(cid, url, fps, clips) for cid, url in urls.items())
    detector = f'detector: {{model: "{model}"}}\n' if model else ""  # else the daemon's default model card
    path = run_dir / "sentinel.yaml"
    path.write_text(
        f"""# generated by bench/cameras.py
site: {{id: bench, timezone: Asia/Shanghai}}
mqtt: {{url: "mqtt://127.0.0.1:{broker_port}", topic_prefix: "{PREFIX}"}}
storage: {{data_dir: "{run_dir / "data"}"}}
cases: {{enabled: false}}
{detector}console: {{host: 127.0.0.1, port: {console_port}}}
cameras:{cameras}""",
        encoding="utf-8",
    )
    return path


def sentinel_cmd() -> list[str]:
    script = Path(sys.executable).with_name("sentinel")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "sentinel.cli.main"]


def prepare(config: Path) -> str:
    """`sentinel check`, then a console user and a bearer token for `/metrics`; returns the token."""

    def run(args: list[str], stdin: str | None = None) -> str:
        proc = subprocess.run([*sentinel_cmd(), *args, "--config", str(config)], input=stdin,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        if proc.returncode != 0:
            raise BenchError(
                f"sentinel {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        return proc.stdout

    run(["check"])
    run(
        ["users", "add", "bench", "--role", "admin", "--password-stdin"],
        stdin=secrets.token_urlsafe(18) + "\n",
    )
    return run(["users", "token", "bench", "--name", "bench"]).strip().splitlines()[0].strip()


# ---------------------------------------------------------------- one measured phase


class Window:
    """Warm-up, then a measured window: CPU of a process tree, memory samples, load average."""

    def __init__(self, meter: TreeMeter, rig: Any, alive: Any) -> None:
        self.meter, self.rig, self.alive = meter, TreeMeter(rig_pids(rig)), alive
        self.rtsp: LoopRtspServer = rig[1]
        self.rss: list[int] = []
        self.pss: list[int] = []
        self.procs: list[int] = []

    def wait(self, seconds: float, sample: bool = False) -> None:
        end = time.monotonic() + seconds
        next_sample = time.monotonic()
        while (left := end - time.monotonic()) > 0:
            self.alive()
            if sample and time.monotonic() >= next_sample:
                rss, pss, n = self.meter.memory()
                self.rss.append(rss)
                self.pss.append(pss)
                self.procs.append(n)
                next_sample += 5.0
            time.sleep(min(left, 0.5))

    def measure(self, seconds: float, on_start: Any = None, on_end: Any = None) -> dict[str, Any]:
        load0 = os.getloadavg()
        start0 = on_start() if on_start else None
        cpu0, rig0, t0, w0 = self.meter.cpu(), self.rig.cpu(), time.monotonic(), time.time()
        shared = set(cpu0) & set(rig0)
        if shared:  # the rig's CPU must never count as the measured program's
            raise BenchError(f"processes {sorted(shared)} are in both the measured tree and the rig")
        frames0 = self.rtsp.status()
        self.wait(seconds, sample=True)
        cpu1, rig1, t1, w1 = self.meter.cpu(), self.rig.cpu(), time.monotonic(), time.time()
        frames1 = self.rtsp.status()
        end0 = on_end() if on_end else None
        rss, pss, _ = self.meter.memory()
        self.rss.append(rss)
        self.pss.append(pss)
        by_role = cpu_used(cpu0, cpu1)
        return {
            "elapsed": t1 - t0, "wall": (w0, w1), "cpu_by_process": by_role, "cpu": sum(by_role.values()),
            "rig_cpu": sum(cpu_used(rig0, rig1).values()), "rig_frames": rig_kept_up(frames0, frames1),
            "rss_peak": max(self.rss), "pss_peak": max(self.pss),
            "rss_end": rss, "pss_end": pss, "processes": len(cpu1), "processes_lost": len(set(cpu0) - set(cpu1)),
            "loadavg_start": load0, "loadavg_end": os.getloadavg(), "start": start0, "end": end0,
        }  # fmt: skip


def run_sentinel(args: argparse.Namespace, rig: Any, urls: dict[str, str], run_dir: Path) -> dict[str, Any]:
    broker, rtsp = rig
    ids = list(urls)
    console_port = free_port()
    config = write_config(run_dir, broker.port, console_port, urls, args.fps, not args.no_clips, args.model)
    token = prepare(config)
    watch = MqttWatch(broker.port, PREFIX)
    daemon = _Child("sentinel", [*sentinel_cmd(), "run", "--config", str(config)], run_dir / "sentinel.log")

    def alive() -> None:
        if not daemon.alive:
            raise BenchError(
                f"sentinel run exited (status {daemon.proc.returncode}).\n{_log_tail(daemon.log_path)}"
            )

    try:
        deadline = time.monotonic() + 60 + 2 * len(ids)
        while len(watch.online(ids)) < len(ids):
            alive()
            if time.monotonic() > deadline:
                _, status, _ = watch.snapshot()
                offline = {c: status.get(c, {}).get("error") or status.get(c, {}).get("state") for c in ids
                           if c not in watch.online(ids)}  # fmt: skip
                raise BenchError(f"cameras not online after start: {offline}\n{_log_tail(daemon.log_path)}")
            time.sleep(0.25)
        window = Window(TreeMeter([daemon.proc.pid]), rig, alive)
        window.wait(args.warmup)
        scrape = lambda: scrape_metrics(console_port, token)  # noqa: E731
        m = window.measure(args.seconds, on_start=scrape, on_end=scrape)
        window.wait(min(5.0, args.seconds))  # alerts of the window's last frames are still on their way
        alerts, status, health = watch.snapshot()
    finally:
        stop_daemon(daemon)
        watch.close()
    return sentinel_figures(args, ids, m, alerts, status, health)


def rig_pids(rig: Any) -> list[int]:
    broker, rtsp = rig
    child = broker._child
    return [*rtsp.pids(), *([child.proc.pid] if child is not None and child.alive else [])]


def stop_daemon(daemon: _Child) -> None:
    if daemon.alive:
        daemon.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.proc.wait(30)
    daemon.kill()


def sentinel_figures(
    args: argparse.Namespace,
    ids: list[str],
    m: dict[str, Any],
    alerts: list[Any],
    status: dict[str, Any],
    health: dict[str, Any] | None,
) -> dict[str, Any]:
    n, secs = len(ids), m["elapsed"]
    a, b = m["start"], m["end"]

    def rate(name: str, label: str) -> dict[str, float]:
        before, after = by_label(a, name, label), by_label(b, name, label)
        return {k: (v - before.get(k, 0.0)) / secs for k, v in after.items()}

    per_camera = rate("sentinel_camera_frames_analysed_total", "camera")
    if per_camera:
        analysed, source = (
            [per_camera.get(c, 0.0) for c in ids],
            "sentinel_camera_frames_analysed (per camera)",
        )
    else:
        total = sum(rate("sentinel_frames_analysed_total", "worker").values())
        analysed, source = [total / n] * n, "sentinel_frames_analysed (worker totals / cameras)"
    delivered = rate("sentinel_frames_delivered_total", "camera")
    decoded = rate("sentinel_frames_decoded_total", "camera")
    skipped = rate("sentinel_camera_inference_skipped_total", "camera")  # a motion gate reused detections
    dropped_metric = rate("sentinel_camera_frames_dropped_total", "camera")
    if dropped_metric:
        dropped = round(sum(dropped_metric.values()) * secs)
    else:  # delivered but never analysed: replaced in the one-frame mailbox by a newer frame
        dropped = max(0, round((sum(delivered.values()) - sum(analysed)) * secs))
    inf_sum = sum(by_label(b, "sentinel_inference_seconds_sum", "worker").values()) - sum(
        by_label(a, "sentinel_inference_seconds_sum", "worker").values()
    )
    inf_n = sum(by_label(b, "sentinel_inference_seconds_count", "worker").values()) - sum(
        by_label(a, "sentinel_inference_seconds_count", "worker").values()
    )
    outbox = by_label(b, "sentinel_outbox_depth", "")

    w0, w1 = m["wall"]
    inside = sorted((x for x in alerts if w0 <= x.detected_at <= w1), key=lambda x: x.detected_at)
    lat = [x.latency for x in inside]
    mid = (w0 + w1) / 2
    first = [x.latency for x in inside if x.detected_at < mid]
    second = [x.latency for x in inside if x.detected_at >= mid]
    per_cam_alerts = {c: sum(1 for x in alerts if x.camera_id == c) for c in ids}
    cpu_per_cam = m["cpu"] / secs / n
    return {
        "cameras": n, "window_s": round(secs, 1), "asked_fps": args.fps,
        "loadavg_start": [round(x, 2) for x in m["loadavg_start"]],
        "loadavg_end": [round(x, 2) for x in m["loadavg_end"]],
        "analysed_fps": {"median": statistics.median(analysed), "min": min(analysed), "source": source,
                         "per_camera": dict(zip(ids, analysed, strict=True)) if per_camera else None},
        "delivered_fps_median": statistics.median([delivered.get(c, 0.0) for c in ids]),
        "decoded_fps_median": statistics.median([decoded.get(c, 0.0) for c in ids]),
        "decoded_fps_per_camera": {c: decoded.get(c, 0.0) for c in ids},
        "inference_skipped_share": sum(skipped.values()) / sum(analysed) if skipped and sum(analysed) else None,
        "decode_modes": sorted({str(status.get(c, {}).get("decode_mode")) for c in ids}),
        "dropped_frames": dropped,
        "cpu_s_per_camera_s": cpu_per_cam, "cameras_per_core": 1 / cpu_per_cam if cpu_per_cam else None,
        "cpu_cores_used": m["cpu"] / secs,
        "cpu_s_per_analysed_frame": m["cpu"] / (sum(analysed) * secs) if sum(analysed) else None,
        "cpu_by_process": {k: round(v / secs, 4) for k, v in sorted(m["cpu_by_process"].items())},
        "processes": m["processes"], "processes_lost_in_window": m["processes_lost"],
        "rig_cpu_cores": m["rig_cpu"] / secs, "rig_frames": m["rig_frames"],
        "memory_mb": _memory(m, n),
        "inference_ms": 1000 * inf_sum / inf_n if inf_n else None,
        "alerts": {
            "total": len(alerts), "in_window": len(inside), "per_camera_total": per_cam_alerts,
            "latency_p50_s": _pct(lat, 50), "latency_p95_s": _pct(lat, 95), "latency_max_s": max(lat) if lat else None,
            "first_half_p50_s": _pct(first, 50), "second_half_p50_s": _pct(second, 50),
        },
        "backlog": {
            "outbox_depth_end": next(iter(outbox.values()), None),
            "health_outbox_depth": (health or {}).get("outbox_depth"),
            "latency_growing": bool(first and second and _pct(second, 50) > 2 * _pct(first, 50) + 0.5),  # type: ignore[operator]
        },
    }  # fmt: skip


def _memory(m: dict[str, Any], n: int) -> dict[str, float]:
    mb = 1024 * 1024
    return {
        "rss": m["rss_peak"] / mb, "pss": m["pss_peak"] / mb,
        "rss_per_camera": m["rss_peak"] / mb / n, "pss_per_camera": m["pss_peak"] / mb / n,
    }  # fmt: skip


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# ---------------------------------------------------------------- the baseline


def run_baseline(args: argparse.Namespace, rig: Any, urls: dict[str, str], run_dir: Path, detector: Any,
                 footage: Footage) -> dict[str, Any]:  # fmt: skip
    argv = [sys.executable, "-u", str(REPO / "bench" / "_baseline.py"), "--fps", str(args.fps),
            "--model", str(detector.model), "--threads", str(detector.threads),
            "--score", str(detector.score_threshold), "--nms", str(detector.nms_iou), *urls.values()]  # fmt: skip
    child = _Child("baseline", argv, run_dir / "baseline.log", stdin_pipe=True, stdout_pipe=True)
    lines: queue.Queue[str] = queue.Queue()
    stdout = child.proc.stdout
    assert stdout is not None and child.proc.stdin is not None
    child.stdout_pumped = True

    def pump() -> None:
        for raw in stdout:
            lines.put(raw.decode())

    threading.Thread(target=pump, name="baseline-stdout", daemon=True).start()

    def alive() -> None:
        if not child.alive:
            raise BenchError(
                f"the baseline exited (status {child.proc.returncode}).\n{_log_tail(child.log_path)}"
            )

    def ask() -> dict[str, Any]:
        assert child.proc.stdin is not None
        child.proc.stdin.write(b"mark\n")
        child.proc.stdin.flush()
        return dict(json.loads(lines.get(timeout=30)))

    try:
        deadline = time.monotonic() + 90 + 2 * len(urls)
        while True:
            alive()
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise BenchError(f"the baseline got no frames.\n{_log_tail(child.log_path)}") from None
                continue
            if line.startswith("READY"):
                break
        window = Window(TreeMeter([child.proc.pid]), rig, alive)
        window.wait(args.warmup)
        m = window.measure(args.seconds, on_start=ask, on_end=ask)
    finally:
        child.kill(grace=5.0)
    n, a, b = len(urls), m["start"], m["end"]
    dt = b["t"] - a["t"]
    read = [(y - x) / dt for x, y in zip(a["read"], b["read"], strict=True)]
    analysed = [(y - x) / dt for x, y in zip(a["analysed"], b["analysed"], strict=True)]
    frames = sum(b["analysed"]) - sum(a["analysed"])
    cpu_per_cam = m["cpu"] / m["elapsed"] / n
    kept_up = statistics.median(read) >= 0.9 * footage.fps and keeps_rate(min(analysed), args.fps, dt)
    return {
        "cameras": n, "window_s": round(m["elapsed"], 1),
        "loadavg_start": [round(x, 2) for x in m["loadavg_start"]],
        "loadavg_end": [round(x, 2) for x in m["loadavg_end"]],
        "read_fps": {"median": statistics.median(read), "min": min(read), "source_fps": footage.fps},
        "analysed_fps": {"median": statistics.median(analysed), "min": min(analysed)},
        "kept_up": kept_up, "reopens": sum(b["reopens"]) - sum(a["reopens"]),
        "cpu_s_per_camera_s": cpu_per_cam, "cameras_per_core": 1 / cpu_per_cam if cpu_per_cam else None,
        "cpu_cores_used": m["cpu"] / m["elapsed"], "rig_cpu_cores": m["rig_cpu"] / m["elapsed"],
        "rig_frames": m["rig_frames"],
        "memory_mb": _memory(m, n),
        "inference_ms": 1000 * (b["detect_s"] - a["detect_s"]) / frames if frames else None,
    }  # fmt: skip


# ---------------------------------------------------------------- main


def parse_counts(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or a list like 8,16,32, got {text!r}") from None
    if not counts or any(c < 1 for c in counts):
        raise argparse.ArgumentTypeError(f"camera counts must be >= 1, got {text!r}")
    return counts


def sweep(args: argparse.Namespace, footage: Footage, tmp: Path) -> list[dict[str, Any]]:
    from sentinel.config.loader import load_config

    results = []
    collapsed_at: int | None = None  # the first count where the baseline could not keep up
    for n in args.cameras:
        check_host(n)
        ids = camera_ids(n)
        n_dir = tmp / f"n{n}"
        n_dir.mkdir()
        # every camera starts at a different point of the footage and a fraction of a GOP after the last
        starts = {c: footage.duration * i / n for i, c in enumerate(ids)}
        delays = {c: (i * GOP_SPREAD_S / n) % GOP_SPREAD_S for i, c in enumerate(ids)}
        baseline, why_not = baseline_wanted(args, n, collapsed_at)
        print(f"\n== {n} cameras: starting the RTSP server and mosquitto", flush=True)
        with Mosquitto() as broker, LoopRtspServer({c: footage.path for c in ids}, starts, delays) as rtsp:
            urls = {c: rtsp.url(c) for c in ids}
            # the baseline gets the detector settings of the daemon's config (model card, threshold, threads)
            detector = load_config(
                write_config(n_dir, broker.port, 0, urls, args.fps, True, args.model)
            ).detector
            runs = []
            for r in range(args.runs):
                run_dir = n_dir / f"run{r + 1}"
                run_dir.mkdir()
                order = ["sentinel", "baseline"] if r % 2 == 0 else ["baseline", "sentinel"]
                if not baseline:
                    order = ["sentinel"]
                out: dict[str, Any] = {} if baseline else {"baseline_not_run": why_not}
                for phase in order:
                    print(f"[{n} cameras, run {r + 1}/{args.runs}] {phase}: measuring "
                          f"({args.warmup:g} s warm-up, {args.seconds:g} s window)...", flush=True)  # fmt: skip
                    rtsp.check()
                    if phase == "sentinel":
                        out["sentinel"] = run_sentinel(args, (broker, rtsp), urls, run_dir)
                    else:
                        out["baseline"] = run_baseline(args, (broker, rtsp), urls, run_dir, detector, footage)
                    time.sleep(2.0)
                out.update(compare(out))
                print_run(n, r + 1, args.runs, out)
                runs.append(out)
            results.append({"cameras": n, "runs": runs, "summary": summarise(runs)})
            if collapsed_at is None and any("baseline" in r and not r["baseline"]["kept_up"] for r in runs):
                collapsed_at = n
    return results


def baseline_wanted(args: argparse.Namespace, n: int, collapsed_at: int | None) -> tuple[bool, str | None]:
    """Whether to run the baseline at `n` cameras, and if not, why (said in the table)."""
    if args.no_baseline:
        return False, "--no-baseline"
    if args.baseline_max is not None:
        return (
            (True, None) if n <= args.baseline_max else (False, f"above --baseline-max {args.baseline_max}")
        )
    if collapsed_at is not None:  # it fell behind at fewer cameras: more only costs time
        return False, f"collapsed at {collapsed_at}"
    return True, None


def compare(out: dict[str, Any]) -> dict[str, Any]:
    """The cameras-per-core ratio, only where both kept up (a program behind its rate uses less CPU than
    the work needs, so its figure would flatter it); else why not."""
    s, b = out.get("sentinel"), out.get("baseline")
    if s is None or b is None:
        return {}
    raw = b["cpu_s_per_camera_s"] / s["cpu_s_per_camera_s"] if s["cpu_s_per_camera_s"] else None
    why = None
    if not b["kept_up"]:
        why = "baseline collapsed"
    elif not keeps_rate(s["analysed_fps"]["min"], s["asked_fps"], s["window_s"]):
        why = "Sentinel behind"
    return {"cameras_per_core_ratio": raw if why is None else None, "ratio_raw": raw, "ratio_withheld": why}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--cameras", type=parse_counts, default=[8], help="camera count, or a list to sweep: 8,16,32"
    )
    ap.add_argument("--seconds", type=float, default=60.0, help="measuring window (default 60)")
    ap.add_argument("--warmup", type=float, default=20.0, help="after all cameras are online (default 20)")
    ap.add_argument("--fps", type=float, default=0.5, help="analysis rate per camera (default 0.5)")
    ap.add_argument("--runs", type=int, default=1, help="repeat and print medians of the runs")
    ap.add_argument("--no-baseline", action="store_true", help="measure Sentinel only")
    ap.add_argument("--baseline-max", type=int, metavar="N", help="run the baseline only up to N cameras "
                    "(default: until it collapses, i.e. not at counts above the first where it fell behind)")  # fmt: skip
    ap.add_argument("--no-clips", action="store_true", help="cameras without alert clips (clip_pre/post 0)")
    ap.add_argument("--footage", default="busy", metavar="busy|quiet|FILE",
                    help="busy: vtest 720p, people moving in every frame (default); quiet: a still street "
                    "with sensor noise and now and then a person crossing (built once, cached); or your own "
                    "H.264 file")  # fmt: skip
    ap.add_argument("--model", type=Path, metavar="CARD", help="detector model card for both (default: the daemon's default), "
                    "e.g. models/nanodet-g-416-int8.yaml")  # fmt: skip
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs, databases)")
    args = ap.parse_args()
    if args.seconds < 5 or args.warmup < 0 or args.runs < 1 or not 0 < args.fps <= 30:
        ap.error("need --seconds >= 5, --warmup >= 0, --runs >= 1, 0 < --fps <= 30")
    if args.model is not None:
        args.model = args.model.resolve()
        if not args.model.is_file():
            ap.error(f"--model: no such model card: {args.model}")

    check_tools()
    footage = probe_footage(resolve_footage(args.footage))
    load = os.getloadavg()
    print(f"footage: {args.footage} = {footage.path.name} ({footage.width}x{footage.height}, {footage.fps:g} fps, "
          f"{footage.duration:.0f} s); {os.cpu_count()} CPUs; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"analysis {args.fps:g} fps; window {args.seconds:g} s after {args.warmup:g} s warm-up; {args.runs} run(s)")  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="sentinel-bench-cameras-"))
    try:
        results = sweep(args, footage, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_summary(results, args)
    if args.json:
        doc = {
            "bench": "cameras", "footage": str(footage.path), "cpus": os.cpu_count(), "machine": platform.platform(),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "results": results,
        }  # fmt: skip
        args.json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MissingTool as exc:
        print(f"bench/cameras.py: {exc}", file=sys.stderr)
        sys.exit(3)
    except (BenchError, ServerError) as exc:
        print(f"bench/cameras.py: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench/cameras.py: interrupted", file=sys.stderr)
        sys.exit(130)
