"""Printing `bench/cameras.py` figures: one block per run, then a table of the medians of the runs."""

from __future__ import annotations

import argparse
import os
import statistics
from typing import Any

# summary key → path into a run's figures
SUMMARY_KEYS: dict[str, tuple[str, ...]] = {
    "analysed_fps_median": ("sentinel", "analysed_fps", "median"),
    "analysed_fps_min": ("sentinel", "analysed_fps", "min"),
    "cpu_s_per_camera_s": ("sentinel", "cpu_s_per_camera_s"),
    "cameras_per_core": ("sentinel", "cameras_per_core"),
    "cpu_cores_used": ("sentinel", "cpu_cores_used"),
    "cpu_s_per_analysed_frame": ("sentinel", "cpu_s_per_analysed_frame"),
    "rss_mb": ("sentinel", "memory_mb", "rss"),
    "pss_mb": ("sentinel", "memory_mb", "pss"),
    "pss_mb_per_camera": ("sentinel", "memory_mb", "pss_per_camera"),
    "latency_p50_s": ("sentinel", "alerts", "latency_p50_s"),
    "latency_p95_s": ("sentinel", "alerts", "latency_p95_s"),
    "first_half_p50_s": ("sentinel", "alerts", "first_half_p50_s"),
    "second_half_p50_s": ("sentinel", "alerts", "second_half_p50_s"),
    "alerts_in_window": ("sentinel", "alerts", "in_window"),
    "dropped_frames": ("sentinel", "dropped_frames"),
    "outbox_depth_end": ("sentinel", "backlog", "outbox_depth_end"),
    "inference_ms": ("sentinel", "inference_ms"),
    "load1": ("sentinel", "loadavg_start", "0"),
    "baseline_cpu_s_per_camera_s": ("baseline", "cpu_s_per_camera_s"),
    "baseline_cameras_per_core": ("baseline", "cameras_per_core"),
    "baseline_read_fps_median": ("baseline", "read_fps", "median"),
    "baseline_analysed_fps_min": ("baseline", "analysed_fps", "min"),
    "baseline_rss_mb": ("baseline", "memory_mb", "rss"),
    "baseline_pss_mb": ("baseline", "memory_mb", "pss"),
    "baseline_load1": ("baseline", "loadavg_start", "0"),
    "ratio": ("cameras_per_core_ratio",),
    "ratio_raw": ("ratio_raw",),
    "rig_cpu_cores": ("sentinel", "rig_cpu_cores"),
    "rig_on_time_share": ("sentinel", "rig_frames", "on_time_share"),
}


def keeps_rate(analysed_fps: float, asked_fps: float, window_s: float) -> bool:
    """At least 90 % of the asked rate, less one frame: a window's edges can cut one frame off (at 0.5 fps
    in 15 s, 7 frames instead of 7.5 read as 0.47)."""
    return analysed_fps >= 0.9 * asked_fps - 1.0 / window_s


def _get(run: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = run
    for key in path:
        if isinstance(node, list):
            node = node[int(key)] if int(key) < len(node) else None
        elif isinstance(node, dict):
            node = node.get(key)
        else:
            return None
        if node is None:
            return None
    return node


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over the runs of each summary figure (None where no run has it)."""
    out: dict[str, Any] = {}
    for key, path in SUMMARY_KEYS.items():
        values = [v for r in runs if isinstance(v := _get(r, path), int | float) and not isinstance(v, bool)]
        out[key] = statistics.median(values) if values else None
    out["baseline_kept_up"] = (
        all(r["baseline"]["kept_up"] for r in runs) if all("baseline" in r for r in runs) else None
    )
    out["baseline_not_run"] = next((r["baseline_not_run"] for r in runs if r.get("baseline_not_run")), None)
    out["ratio_withheld"] = next((r["ratio_withheld"] for r in runs if r.get("ratio_withheld")), None)
    out["sentinel_kept_up"] = all(
        keeps_rate(
            r["sentinel"]["analysed_fps"]["min"], r["sentinel"]["asked_fps"], r["sentinel"]["window_s"]
        )
        for r in runs
    )
    return out


def _f(v: Any, fmt: str = ".2f", none: str = "-") -> str:
    return none if v is None else format(v, fmt)


def _load(x: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in x)


def _busy(s: dict[str, Any]) -> str:
    cpus = os.cpu_count() or 1
    load = max(s["loadavg_start"][0], s["loadavg_end"][0])
    if load > cpus and s["cpu_cores_used"] < 0.8 * cpus:
        return f" while other work held the machine (load {load:.1f} on {cpus} CPUs; it got {s['cpu_cores_used']:.2f} cores)"
    return ""


def _rig(f: dict[str, Any]) -> str:
    share = f.get("on_time_share")
    return (
        f"frames sent {f['pushed']}, late {f['late']}, skipped {f['skipped']} ({_f(share, '.1%')} on time)"
        + (
            "  ** the rig fell behind: the figures do not hold **"
            if share is not None and share < 0.99
            else ""
        )
    )


def print_run(n: int, r: int, runs: int, out: dict[str, Any]) -> None:
    tag = f"[{n} cameras, run {r}/{runs}]"
    s = out.get("sentinel")
    if s is not None:
        al, mem = s["alerts"], s["memory_mb"]
        print(
            f"{tag} Sentinel: analysed {s['analysed_fps']['median']:.3f} / {s['analysed_fps']['min']:.3f} fps per "
            f"camera (median / min; asked {s['asked_fps']:g}; from {s['analysed_fps']['source']})\n"
            f"    CPU {s['cpu_s_per_camera_s']:.4f} s per camera-second = {_f(s['cameras_per_core'], '.1f')} cameras "
            f"per core ({s['cpu_cores_used']:.2f} cores in all: "
            + ", ".join(f"{k} {v:.3f}" for k, v in s["cpu_by_process"].items())
            + f"); decode {'/'.join(s['decode_modes'])}, {s['decoded_fps_median']:.2f} frames decoded per camera-s\n"
            f"    inference skipped (motion gate) {_f(s.get('inference_skipped_share'), '.0%')} of analysed frames; "
            f"memory RSS {mem['rss']:.0f} MB ({mem['rss_per_camera']:.1f} per camera), PSS {mem['pss']:.0f} MB "
            f"({mem['pss_per_camera']:.1f} per camera); inference {_f(s['inference_ms'], '.1f')} ms per frame\n"
            f"    alerts {al['in_window']} in the window ({al['total']} in all); latency capture→broker p50 "
            f"{_f(al['latency_p50_s'])} s, p95 {_f(al['latency_p95_s'])} s (first half p50 {_f(al['first_half_p50_s'])}, "
            f"second half {_f(al['second_half_p50_s'])}); dropped {s['dropped_frames']} frames; outbox at end "
            f"{_f(s['backlog']['outbox_depth_end'], '.0f')}{'; LATENCY GROWING' if s['backlog']['latency_growing'] else ''}\n"
            f"    CPU per analysed frame {_f(s['cpu_s_per_analysed_frame'], '.3f')} s"
            + (
                ""
                if keeps_rate(s["analysed_fps"]["min"], s["asked_fps"], s["window_s"])
                else f"  ** behind the asked rate{_busy(s)}: CPU per camera-second is understated **"
            )
            + f"\n    load average {_load(s['loadavg_start'])} → {_load(s['loadavg_end'])}; "
            f"rig (RTSP server, broker) {s['rig_cpu_cores']:.2f} cores, {_rig(s['rig_frames'])}"
        )
    b = out.get("baseline")
    if b is not None:
        mem = b["memory_mb"]
        behind = "" if b["kept_up"] else "  ** could not keep up: its CPU per camera is a lower bound **"
        print(
            f"{tag} baseline: read {b['read_fps']['median']:.1f} / {b['read_fps']['min']:.1f} fps per camera "
            f"(source {b['read_fps']['source_fps']:g}), analysed {b['analysed_fps']['median']:.3f} / "
            f"{b['analysed_fps']['min']:.3f}{behind}\n"
            f"    CPU {b['cpu_s_per_camera_s']:.4f} s per camera-second = {_f(b['cameras_per_core'], '.1f')} cameras per "
            f"core ({b['cpu_cores_used']:.2f} cores); RSS {mem['rss']:.0f} MB, PSS {mem['pss']:.0f} MB; inference "
            f"{_f(b['inference_ms'], '.1f')} ms per frame\n"
            f"    load average {_load(b['loadavg_start'])} → {_load(b['loadavg_end'])}; rig {b['rig_cpu_cores']:.2f} "
            f"cores, {_rig(b['rig_frames'])}"
        )
    if out.get("cameras_per_core_ratio") is not None:
        print(f"{tag} cameras per core, Sentinel / baseline: {out['cameras_per_core_ratio']:.1f}x")
    elif out.get("ratio_withheld"):
        print(
            f"{tag} no cameras-per-core ratio: {out['ratio_withheld']} (raw {_f(out.get('ratio_raw'), '.1f')}x)"
        )


def print_summary(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The CPU curve: one row per camera count (medians of the runs)."""
    runs = f"medians of {args.runs} runs" if args.runs > 1 else "1 run"
    print(f"\nCPU curve, footage {args.footage} ({runs}; analysis {args.fps:g} fps per camera; window "
          f"{args.seconds:g} s; CPU of the daemon's process tree only, the rig's apart)")  # fmt: skip
    head = (
        f"{'cameras':>7} {'cores':>5} {'core-s/cam-s':>12} {'base':>7} {'ratio':>5} {'fps min':>7} "
        f"{'p95 s':>6} {'PSS/cam':>7} | {'load1':>5} {'drop':>5} {'outbox':>6} {'rig':>5} {'rig ok':>6}  notes"
    )
    print(head)
    print("-" * len(head))
    for res in results:
        s = res["summary"]
        notes = []
        if not s["sentinel_kept_up"]:
            notes.append("Sentinel behind the asked rate")
        if s["baseline_not_run"]:
            notes.append(f"baseline not run: {s['baseline_not_run']}")
        elif s["baseline_kept_up"] is False:
            notes.append(
                f"baseline collapsed: read {_f(s['baseline_read_fps_median'], '.1f')} fps, analysed "
                f"{_f(s['baseline_analysed_fps_min'], '.2f')} min; its CPU is a lower bound"
            )
        if s["ratio"] is None and s["ratio_raw"] is not None:
            notes.append(f"no ratio ({s['ratio_withheld']}; raw {s['ratio_raw']:.1f})")
        if s["rig_on_time_share"] is not None and s["rig_on_time_share"] < 0.99:
            notes.append("RIG BEHIND: frames late or skipped, the figures do not hold")
        print(
            f"{res['cameras']:>7} {_f(s['cpu_cores_used']):>5} {_f(s['cpu_s_per_camera_s'], '.4f'):>12} "
            f"{_f(s['baseline_cpu_s_per_camera_s'], '.4f'):>7} {_f(s['ratio'], '.1f'):>5} "
            f"{_f(s['analysed_fps_min'], '.2f'):>7} {_f(s['latency_p95_s']):>6} {_f(s['pss_mb_per_camera'], '.1f'):>7} | "
            f"{_f(s['load1']):>5} {_f(s['dropped_frames'], '.0f'):>5} {_f(s['outbox_depth_end'], '.0f'):>6} "
            f"{_f(s['rig_cpu_cores']):>5} {_f(s['rig_on_time_share'], '.0%'):>6}  {'; '.join(notes)}"
        )
    print(
        "cores: the daemon's CPU cores in use; core-s/cam-s: its CPU seconds per camera-second (base: the "
        "baseline's);\nratio: base / Sentinel (cameras per core), only where both kept up; fps min: the "
        "slowest camera's analysed rate;\np95: capture-to-broker latency of alerts; rig: the RTSP server and "
        "broker's cores; rig ok: frames the server sent on time"
    )
