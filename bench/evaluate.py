"""Evaluation harness: the daemon's analysis path (`sentinel.replay.runner.replay`, which runs the worker's own
`sentinel.pipeline.CameraPipeline`: reader → motion gate → NanoDet on the 640-wide analysis image → tracker →
rules → alerts, stamped in media time) over scenario clips of real footage with events injected at known
times (`bench/scenarios.py`), and over the same footage with nothing injected. Prints, per event type: events, detected, recall, false
alerts per camera-hour and time from onset to alert. A benchmark: it prints figures, it does not pass or fail.

    .venv/bin/python bench/evaluate.py [--workers 2] [--only dumping crowd ...] [--list]

Matching: an alert of the scenario's event type whose `detected_at` (media seconds from the clip's start) is
at or after the onset and at most the rule's debounce (its `min_duration`) + 10 s after it detects the event,
if one of its objects' boxes overlaps where the event is (an alert elsewhere in the picture is false).
A later one of that type still counts as "in clip" (late), not as a false alert. False alerts: every alert on
event-free footage; on injected clips, alerts of another type or place, alerts before the onset, and repeats.
Camera-hours are media hours analysed by a camera running a rule of that type.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.scenarios import CACHE_DIR, CAMERAS, Scenario, scenarios, write_clip  # noqa: E402
from sentinel.config.models import CameraConfig, SentinelConfig  # noqa: E402

TOLERANCE = 10.0  # seconds allowed past the debounce
RULE_KIND = {
    "garbage_exposed": "static_object",
    "illegal_construction": "scene_change",
    "crowd_gathering": "count_in_zone",
    "camera_tampered": "camera_health",
    "motor_parking": "dwell",
}


@dataclass(frozen=True)
class SeenAlert:
    """An alert as the harness sees it: its type and times in media seconds from the clip's start."""

    event_type: str
    at: float  # detected_at
    started: float  # started_at
    detail: str | None = None
    boxes: tuple[tuple[float, float, float, float], ...] = ()  # its objects, normalised xyxy


@dataclass
class RunResult:
    scenario: str
    alerts: list[SeenAlert] = field(default_factory=list)
    frames: int = 0
    media_seconds: float = 0.0
    build_seconds: float = 0.0
    run_seconds: float = 0.0
    skipped: str | None = None  # why the scenario was not run
    error: str | None = None


# ---------------------------------------------------------------- the camera configs, as implemented now


def implemented() -> set[str]:
    """Rule kinds that have an implementation (the rule registry: every registered kind has its rule)."""
    try:
        from sentinel.detect.rules.registry import rule_kinds
    except ImportError:  # a rule module mid-edit that does not import yet
        return set()
    return set(rule_kinds())


def camera_for(s: Scenario, kinds: set[str]) -> CameraConfig:
    """The scenario's camera with only the implemented rule kinds."""
    cam = CAMERAS[s.camera](s.name.replace(".", "_")[:64])
    return cam.model_copy(update={"rules": [r for r in cam.rules if r.kind in kinds]})


def rule_types(camera: str, kinds: set[str] | None = None) -> set[str]:
    """Event types a camera raises (with only `kinds`, if given)."""
    return {r.event_type for r in CAMERAS[camera]("eval").rules if kinds is None or r.kind in kinds}


# ---------------------------------------------------------------- running a scenario (in a worker process)

_detector: Any = None


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # two workers on two cores: no oversubscription


def run_scenario(s: Scenario, rules: list[Any] | None = None, annotated: bool = False) -> RunResult:
    """Build (or reuse) the clip, replay it with the scenario's camera (or with `rules` instead of the camera's
    rules) through `sentinel.replay.runner.replay` -- the daemon's own `CameraPipeline` -- and report the
    alerts in media seconds from the clip's start. `annotated`: also write replay's annotated.mp4 (a
    technician's aid, ~35 % of the replay time here, no part in detection)."""
    global _detector
    from sentinel.detect.detectors import load_detector
    from sentinel.replay.runner import replay

    result = RunResult(s.name)
    why = s.available()
    if why is not None:
        result.skipped = why
        return result
    try:
        t0 = time.monotonic()
        clip = write_clip(s)
        result.build_seconds = time.monotonic() - t0
        config = SentinelConfig(cameras=[camera_for(s, implemented())])
        if rules is not None:
            cam = config.cameras[0].model_copy(update={"rules": rules})
            config = SentinelConfig(cameras=[cam])
        cam = config.cameras[0]
        if _detector is None:
            _detector = load_detector(config.detector)
        out = CACHE_DIR / "runs" / s.name
        shutil.rmtree(out, ignore_errors=True)  # a reference view left by an earlier run would be reused
        t1 = time.monotonic()
        replayed = replay(clip, config, cam.id, out, _detector, annotated=annotated)
        result.run_seconds = time.monotonic() - t1
        result.frames, result.media_seconds = replayed.frames, replayed.media_seconds
        origin = replayed.media_origin  # the clip's first frame: alerts are stamped in media time
        for a in replayed.alerts:
            at = datetime.fromisoformat(a.detected_at).timestamp() - origin
            started = datetime.fromisoformat(a.started_at).timestamp() - origin
            boxes = tuple(o.box for o in a.objects)
            result.alerts.append(
                SeenAlert(a.event_type, _snap(at, s.fps), _snap(started, s.fps), a.detail, boxes)
            )
    except Exception as exc:  # a failing scenario is reported, the others still run
        result.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
    return result


def _snap(t: float, fps: float) -> float:
    """Media time of the clip frame nearest to `t` (frames are at i / fps; millisecond ISO times round)."""
    return round(t * fps) / fps


# ---------------------------------------------------------------- matching and bookkeeping


@dataclass
class Outcome:
    """How one scenario's alerts compare with its ground truth."""

    scenario: Scenario
    detected: SeenAlert | None = None  # in the window
    late: SeenAlert | None = None  # of the right type, after the window
    false: list[tuple[SeenAlert, str]] = field(default_factory=list)  # (alert, why it is false)

    @property
    def latency(self) -> float | None:
        hit = self.detected or self.late
        onset = self.scenario.onset
        return None if hit is None or onset is None else hit.at - onset


def overlaps(a: tuple[float, ...], b: tuple[float, ...], least: float = 0.3) -> bool:
    """The boxes' intersection covers at least `least` of the smaller one."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w > 0 and h > 0 and w * h >= least * smaller


def match(s: Scenario, alerts: Iterable[SeenAlert], tolerance: float = TOLERANCE) -> Outcome:
    out = Outcome(s)
    onset = s.onset
    where = s.where()
    for a in sorted(alerts, key=lambda a: a.at):
        if s.event_type is None or onset is None:
            out.false.append((a, "event-free footage"))
        elif a.event_type != s.event_type:
            out.false.append((a, f"wrong type (the event is {s.event_type})"))
        elif where is not None and a.boxes and not any(overlaps(b, where) for b in a.boxes):
            out.false.append((a, "elsewhere in the picture"))
        elif a.at < onset:
            out.false.append((a, "before the onset"))
        elif out.detected is not None or out.late is not None:
            out.false.append((a, "repeat"))
        elif a.at <= onset + s.debounce + tolerance:
            out.detected = a
        else:
            out.late = a
    return out


@dataclass
class TypeStats:
    event_type: str
    kind: str
    implemented: bool = True
    events: int = 0
    detected: int = 0
    in_clip: int = 0
    unavailable: int = 0  # scenarios that could not be built here
    window: float = 0.0  # the longest matching window (debounce + tolerance) of its scenarios
    latencies: list[float] = field(default_factory=list)
    fa_free: int = 0
    hours_free: float = 0.0
    fa_injected: int = 0
    hours_injected: float = 0.0

    @property
    def recall(self) -> float | None:
        return self.detected / self.events if self.events else None

    @property
    def fa_rate_free(self) -> float | None:
        return self.fa_free / self.hours_free if self.hours_free else None

    @property
    def fa_rate_all(self) -> float | None:
        hours = self.hours_free + self.hours_injected
        return (self.fa_free + self.fa_injected) / hours if hours else None


def tally(
    outcomes: Sequence[Outcome], skipped: Sequence[Scenario] = (), kinds: set[str] | None = None
) -> dict[str, TypeStats]:
    """Per event type: events, detections, latencies, false alerts and the camera-hours they were counted over."""
    kinds = set(RULE_KIND.values()) if kinds is None else kinds
    stats = {t: TypeStats(t, k, k in kinds) for t, k in RULE_KIND.items()}
    for s in skipped:
        if s.event_type in stats:
            stats[s.event_type].unavailable += 1
    for o in outcomes:
        s = o.scenario
        hours = s.duration / 3600.0
        if s.event_type is not None and s.event_type in stats and stats[s.event_type].implemented:
            st = stats[s.event_type]
            st.events += 1
            st.detected += o.detected is not None
            st.in_clip += (o.detected or o.late) is not None
            st.window = max(st.window, s.debounce + TOLERANCE)
            if o.latency is not None:
                st.latencies.append(o.latency)
        for t in rule_types(s.camera, kinds):
            if t in stats:
                if s.event_type is None:
                    stats[t].hours_free += hours
                else:
                    stats[t].hours_injected += hours
        for a, _ in o.false:
            st = stats.setdefault(a.event_type, TypeStats(a.event_type, "?"))
            if s.event_type is None:
                st.fa_free += 1
            else:
                st.fa_injected += 1
    return stats


def table(stats: dict[str, TypeStats]) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.0%}"

    def rate(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    head = (
        f"{'event type':21} {'rule':14} {'window':>6} {'events':>6} {'detect':>6} {'recall':>6} {'inclip':>6} "
        f"{'FA free':>7} {'cam-h':>5} {'FA/h free':>9} {'FA inj':>6} {'FA/h all':>8} {'lat med':>7} {'lat max':>7}"
    )
    lines = [head, "-" * len(head)]
    for st in stats.values():
        if not st.implemented:
            lines.append(f"{st.event_type:21} {st.kind:14} not implemented")
            continue
        if st.events == 0 and st.unavailable:
            lines.append(
                f"{st.event_type:21} {st.kind:14} {st.unavailable} scenarios not built: no imagery here"
            )
            continue
        lat = st.latencies
        lines.append(
            f"{st.event_type:21} {st.kind:14} {f'{st.window:.0f} s':>6} {st.events:>6} {st.detected:>6} {pct(st.recall):>6} "
            f"{st.in_clip:>6} {st.fa_free:>7} {st.hours_free:>5.2f} {rate(st.fa_rate_free):>9} "
            f"{st.fa_injected:>6} {rate(st.fa_rate_all):>8} "
            f"{(f'{statistics.median(lat):.0f} s' if lat else '-'):>7} {(f'{max(lat):.0f} s' if lat else '-'):>7}"
        )
    lines += [
        "",
        "window: debounce (the rule's min_duration) + 10 s; detect: alerts of the type in that window after the onset;",
        "inclip: ... at any time after the onset; FA free: false alerts on event-free footage over cam-h camera-hours;",
        "FA inj: alerts of the type on injected clips that are wrong-type, early or repeats; FA/h all: both, over all",
        "camera-hours of cameras running the rule; lat: onset to the first alert of the type (late ones included).",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def _cost(s: Scenario) -> float:
    return s.duration * CAMERAS[s.camera]("eval").analyze_fps


def prepare() -> None:
    """Shared inputs, made once before the workers start: the detector's view of vtest (cached on disk) and
    the vehicle footage."""
    from bench.scenarios import bikes_mp4
    from tests.support.scenes import vtest_detections

    vtest_detections(2.0)
    bikes_mp4()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="replay processes (default 2)")
    ap.add_argument(
        "--only", nargs="+", metavar="FAMILY", help="dumping construction crowd tampering parking event_free"
    )
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--annotated", action="store_true", help="also write replay's annotated.mp4 (slower)")
    args = ap.parse_args(argv)
    t_start = time.monotonic()
    chosen = [s for s in scenarios() if not args.only or s.family in args.only]
    if args.list:
        for s in chosen:
            onset = "-" if s.onset is None else f"{s.onset:.0f} s"
            print(
                f"{s.name:32} {s.family:12} {s.duration:6.0f} s @ {s.fps:g} fps  onset {onset:>6}  {s.note}"
            )
        return 0
    prepare()
    kinds = implemented()
    print(
        f"{len(chosen)} scenarios, {args.workers} workers; rule kinds implemented: {', '.join(sorted(kinds))}"
    )
    results: dict[str, RunResult] = {}
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(args.workers, mp_context=ctx, initializer=_init_worker) as pool:
        futures: dict[Future[RunResult], Scenario] = {
            pool.submit(run_scenario, s, None, args.annotated): s
            for s in sorted(chosen, key=_cost, reverse=True)
        }
        for fut in as_completed(futures):
            r = fut.result()
            results[r.scenario] = r
            print(_progress_line(futures[fut], r), flush=True)
    outcomes = [match(s, results[s.name].alerts) for s in chosen if _ran(results[s.name])]
    skipped = [s for s in chosen if results[s.name].skipped]
    print()
    for o in outcomes:
        for a, why in o.false:
            print(f"false alert  {o.scenario.name}: {a.event_type} at {a.at:.0f} s ({why}){_detail(a)}")
        if o.late is not None:
            print(
                f"late         {o.scenario.name}: {o.late.event_type} at {o.late.at:.0f} s, {o.latency:.0f} s after onset"
            )
        if o.scenario.event_type and o.detected is None and o.late is None:
            print(f"missed       {o.scenario.name}: no {o.scenario.event_type} alert ({o.scenario.note})")
    failed = [r for r in results.values() if r.error]
    for r in failed:
        print(f"ERROR        {r.scenario}: {r.error}", file=sys.stderr)
    print()
    print(table(tally(outcomes, skipped, kinds)))
    frames = sum(r.frames for r in results.values())
    media = sum(r.media_seconds for r in results.values())
    wall = time.monotonic() - t_start
    print(
        f"\n{frames} frames analysed over {media / 3600:.2f} h of media; wall time {wall:.0f} s "
        f"({wall / 60:.1f} min) on {os.cpu_count()} cores with {args.workers} workers"
    )
    return 1 if failed else 0


def _ran(r: RunResult) -> bool:
    return r.skipped is None and r.error is None


def _detail(a: SeenAlert) -> str:
    return f": {a.detail}" if a.detail else ""


def _progress_line(s: Scenario, r: RunResult) -> str:
    if r.skipped:
        return f"  {s.name:32} skipped: {r.skipped}"
    if r.error:
        return f"  {s.name:32} ERROR {r.error.splitlines()[0]}"
    alerts = ", ".join(f"{a.event_type}@{a.at:.0f}s" for a in r.alerts) or "no alerts"
    return f"  {s.name:32} {r.frames:5d} frames in {r.run_seconds:5.1f} s (+{r.build_seconds:4.1f} s clip)  {alerts}"


if __name__ == "__main__":
    sys.exit(main())
