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
import dataclasses
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import _cameras, _revisions  # noqa: E402
from bench.scenarios import CACHE_DIR, CAMERAS, Scenario, scenarios, write_clip  # noqa: E402
from sentinel.config.models import CameraConfig, SentinelConfig  # noqa: E402

TOLERANCE = 10.0  # seconds allowed past the debounce
RULE_KIND = {
    "garbage_exposed": "static_object",
    "illegal_construction": "scene_change",
    "crowd_gathering": "count_in_zone",
    "camera_tampered": "camera_health",
    "motor_parking": "dwell",
    "illegal_small_ads": "posted_text",
    "illegal_banner": "posted_text",
    # street order (bench/scenarios_street.py, the `street` camera)
    "shop_spillover": "dwell",
    "nonmotor_parking": "stationary_count",
    "shared_bike_pile": "stationary_count",
    "fire_lane_blocked": "dwell",
    "umbrella_fixed": "dwell",
    "road_vending": "dwell",
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
    cache: tuple[int, int] | None = None  # detector cache (hits, misses), if one was used
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
    return {
        r["event_type"]
        for r in _cameras.SPECS[camera]("eval")["rules"]
        if kinds is None or r["kind"] in kinds
    }


# ---------------------------------------------------------------- running a scenario (in a worker process)

_detector: Any = None


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # two workers on two cores: no oversubscription


def run_scenario(
    s: Scenario, rules: list[Any] | None = None, annotated: bool = False, cache_db: Path | None = None
) -> RunResult:
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
        detector: Any = _detector
        if cache_db is not None:
            detector = cached_detector(cache_db, config)
        out = CACHE_DIR / "runs" / s.name
        shutil.rmtree(out, ignore_errors=True)  # a reference view left by an earlier run would be reused
        t1 = time.monotonic()
        replayed = replay(clip, config, cam.id, out, detector, annotated=annotated)
        result.run_seconds = time.monotonic() - t1
        if cache_db is not None:
            detector.close()
            result.cache = (detector.hits, detector.misses)
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


def cached_detector(db: Path, config: SentinelConfig) -> Any:
    """This tree's detector behind the evaluation's detector cache (bench/_detcache.py)."""
    from bench._detcache import for_config

    return for_config(db, config)


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


def poisson_upper(n: int, confidence: float = 0.95) -> float:
    """The exact (Garwood) one-sided upper confidence limit of a Poisson mean after `n` counts:
    chi2.ppf(confidence, 2n + 2) / 2 (3.00 for n = 0 at 95 %); the upper end of Garwood's two-sided
    interval at 1 - 2 x (1 - confidence)."""
    from scipy.stats import chi2

    return float(chi2.ppf(confidence, 2 * n + 2) / 2.0)


BURST_GAP = 600.0  # s: false alerts of one type closer than this on one clip are one incident


def bursts(o: Outcome) -> dict[str, int]:
    """Per event type, the incidents on this clip that drew more than one alert: the event with repeats,
    or false alerts of one type each within BURST_GAP of the one before."""
    out: dict[str, int] = {}
    s = o.scenario
    if (o.detected is not None or o.late is not None) and any(why == "repeat" for _, why in o.false):
        out[s.event_type or ""] = 1
    by_type: dict[str, list[float]] = {}
    for a, why in o.false:
        if why != "repeat":
            by_type.setdefault(a.event_type, []).append(a.at)
    for t, ats in by_type.items():
        ats.sort()
        run = 1
        for prev, at in zip(ats, ats[1:], strict=False):
            if at - prev <= BURST_GAP:
                run += 1
                if run == 2:
                    out[t] = out.get(t, 0) + 1
            else:
                run = 1
    return out


def match_parts(s: Scenario, alerts: Sequence[SeenAlert]) -> list[Outcome]:
    """`match`, or for a clip of several events (`Episodes`) one outcome per event, each over its stretch of
    the clip (named scenario#1, #2, ...; its camera-hours are the stretch's)."""
    from bench.scenarios import Episodes

    if not isinstance(s.inject, Episodes):
        return [match(s, alerts)]
    out = []
    for k, (a, b, part) in enumerate(s.inject.stretches(s.duration), start=1):
        sub = dataclasses.replace(s, name=f"{s.name}#{k}", inject=part, duration=b - a)
        out.append(match(sub, [x for x in alerts if a <= x.at < b]))
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
    bursts: int = 0  # incidents (an event, or a run of false alerts) that drew more than one alert
    other_type: int = 0  # of the false alerts on injected clips: alerts of this type on another type's clip

    @property
    def recall(self) -> float | None:
        return self.detected / self.events if self.events else None

    @property
    def fa_rate_free(self) -> float | None:
        return self.fa_free / self.hours_free if self.hours_free else None

    @property
    def fa_upper(self) -> float | None:
        """95 % upper bound of the false alerts per camera-hour on event-free footage (exact Poisson)."""
        return poisson_upper(self.fa_free) / self.hours_free if self.hours_free else None

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
        for a, why in o.false:
            st = stats.setdefault(a.event_type, TypeStats(a.event_type, "?"))
            if s.event_type is None:
                st.fa_free += 1
            else:
                st.fa_injected += 1
                st.other_type += why.startswith("wrong type")
        for t, n in bursts(o).items():
            if t in stats:
                stats[t].bursts += n
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
    return s.duration * _cameras.analyze_fps(s.camera)


def prepare() -> None:
    """Shared inputs, made once before the workers start: the detector's view of vtest (cached on disk) and
    the vehicle footage."""
    from bench.scenarios import bikes_mp4
    from tests.support.scenes import vtest_detections

    vtest_detections(2.0)
    bikes_mp4()


def _build(s: Scenario) -> tuple[str, float, str | None]:
    t0 = time.monotonic()
    try:
        write_clip(s)
    except Exception as exc:
        return s.name, time.monotonic() - t0, f"{type(exc).__name__}: {exc}"
    return s.name, time.monotonic() - t0, None


def build_clips(chosen: Sequence[Scenario], workers: int) -> dict[str, str]:
    """Write the clips that are not cached yet (in `workers` processes); returns {scenario: error}."""
    todo = [s for s in chosen if s.available() is None and not s.clip_path().is_file()]
    errors: dict[str, str] = {}
    if not todo:
        return errors
    print(f"building {len(todo)} clips ...", flush=True)
    t0 = time.monotonic()
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
        for name, secs, err in pool.map(_build, sorted(todo, key=_cost, reverse=True)):
            print(f"  clip {name:34} {secs:6.1f} s{'  ERROR ' + err if err else ''}", flush=True)
            if err:
                errors[name] = err
    print(f"clips built in {time.monotonic() - t0:.0f} s", flush=True)
    return errors


def result_of(s: Scenario, raw: dict[str, Any]) -> RunResult:
    r = RunResult(s.name)
    if raw.get("error"):
        r.error = raw["error"]
        return r
    r.frames, r.media_seconds = raw.get("frames", 0), raw.get("media_seconds", 0.0)
    r.run_seconds = raw.get("run_seconds", 0.0)
    for a in raw["alerts"]:
        boxes = tuple(tuple(b) for b in a["boxes"])
        r.alerts.append(SeenAlert(a["event_type"], a["at"], a["started"], a.get("detail"), boxes))
    return r


def report(
    label: str, chosen: Sequence[Scenario], results: dict[str, RunResult]
) -> dict[str, dict[str, TypeStats]]:
    """Per-scenario findings for one revision, and its tallies over all, tuning and held-out clips."""
    print(f"\n== {label}: findings")
    ran = [s for s in chosen if _ran(results[s.name])]
    outcomes = [o for s in ran for o in match_parts(s, results[s.name].alerts)]
    for o in outcomes:
        for a, why in o.false:
            print(f"false alert  {o.scenario.name}: {a.event_type} at {a.at:.0f} s ({why}){_detail(a)}")
        if o.late is not None:
            print(
                f"late         {o.scenario.name}: {o.late.event_type} at {o.late.at:.0f} s, {o.latency:.0f} s after onset"
            )
        if o.scenario.event_type and o.detected is None and o.late is None:
            print(f"missed       {o.scenario.name}: no {o.scenario.event_type} alert ({o.scenario.note})")
        if o.detected is not None and o.scenario.onset is not None:
            lag = o.detected.started - o.scenario.onset
            if abs(lag) > 5:
                print(f"started_at   {o.scenario.name}: {lag:+.0f} s from the onset")
    for s in chosen:
        if results[s.name].error:
            print(f"ERROR        {s.name}: {results[s.name].error}", file=sys.stderr)
    skipped = [s for s in chosen if results[s.name].skipped]
    kinds = set(RULE_KIND.values())
    return {
        split: tally([o for o in outcomes if split == "all" or o.scenario.split == split], skipped, kinds)
        for split in ("all", "tuning", "held-out", "fresh")
    }


def side_by_side(tallies: dict[str, dict[str, TypeStats]]) -> str:
    """One row per event type and revision: the revisions' figures next to each other."""

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.0%}"

    def rate(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    labels = list(tallies)
    width = max(len(lb) for lb in labels)
    head = (
        f"{'event type':21} {'revision':{width}} {'window':>6} {'events':>6} {'detect':>6} {'recall':>6} "
        f"{'late':>4} {'FA free':>7} {'cam-h':>5} {'FA/h':>5} {'UB95/h':>6} {'FA inj':>6} {'other':>5} "
        f"{'bursts':>6} {'lat med':>7} {'lat max':>7}"
    )
    lines = [head, "-" * len(head)]
    for t in RULE_KIND:
        for lb in labels:
            st = tallies[lb][t]
            lat = st.latencies
            lines.append(
                f"{t:21} {lb:{width}} {f'{st.window:.0f} s':>6} {st.events:>6} {st.detected:>6} {pct(st.recall):>6} "
                f"{st.in_clip - st.detected:>4} {st.fa_free:>7} {st.hours_free:>5.1f} {rate(st.fa_rate_free):>5} "
                f"{rate(st.fa_upper):>6} {st.fa_injected:>6} {st.other_type:>5} {st.bursts:>6} "
                f"{(f'{statistics.median(lat):.0f} s' if lat else '-'):>7} {(f'{max(lat):.0f} s' if lat else '-'):>7}"
            )
    lines += [
        "",
        "window: min_duration + 10 s; detect: first alert of the type at the event's place within the window;",
        "late: in the clip after the window; FA free: alerts on event-free footage over cam-h camera-hours,",
        "FA/h their rate, UB95/h its exact one-sided 95 % Poisson upper bound; FA inj: false alerts of the type on",
        "injected clips (early, elsewhere, repeats, or of another type: 'other'); bursts: incidents drawing more",
        "than one alert; lat: onset to the first alert of the type (late ones included).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="replay processes (default 2)")
    ap.add_argument(
        "--only",
        nargs="+",
        metavar="FAMILY_OR_NAME",
        help="families (dumping construction crowd tampering parking text event_free; street order: "
        "spillover nonmotor bikepile firelane street_free) or scenario names",
    )
    ap.add_argument(
        "--split",
        choices=["tuning", "held-out", "fresh"],
        help="only the tuning, held-out or fresh (check) scenarios",
    )
    ap.add_argument("--before", metavar="REV", help="also run the scenarios on this git revision's sentinel")
    ap.add_argument("--after", metavar="REV", default=".", help="the revision evaluated (default: this tree)")
    ap.add_argument("--model", metavar="CARD", help="the evaluated revision runs this model card (e.g. INT8)")
    ap.add_argument("--before-model", metavar="CARD", help="the --before revision runs this model card")
    ap.add_argument("--no-detector-cache", action="store_true", help="run the detector on every frame")
    ap.add_argument(
        "--cache", type=Path, default=CACHE_DIR, help=f"clips, detector cache, results ({CACHE_DIR})"
    )
    ap.add_argument(
        "--adaptive",
        metavar="MIN_FPS[:SLOW_AFTER]",
        help="every camera with the adaptive analysis rate on, down to MIN_FPS after SLOW_AFTER s still",
    )
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--json", type=Path, help="write every revision's raw results here")
    args = ap.parse_args(argv)  # fmt: skip
    t_start = time.monotonic()
    os.environ["SENTINEL_EVAL_CACHE"] = str(args.cache)
    if args.adaptive:
        _cameras.adaptive({}, args.adaptive)  # a typo fails here, not in every child
        os.environ[_cameras.ADAPTIVE_ENV] = args.adaptive
    chosen = [
        s for s in scenarios()
        if (not args.only or s.family in args.only or s.name in args.only)
        and (args.split is None or s.split == args.split)
    ]  # fmt: skip
    if args.list:
        for s in chosen:
            onset = "-" if s.onset is None else f"{s.onset:.0f} s"
            print(
                f"{s.name:34} {s.family:12} {s.split:8} {s.base:5} {s.duration:6.0f} s @ {s.fps:g} fps  onset {onset:>6}  {s.note}"
            )
        hours: dict[str, float] = {}
        for s in chosen:
            if s.event_type is None:
                hours[s.camera] = hours.get(s.camera, 0.0) + s.duration / 3600
        print("event-free camera-hours: " + ", ".join(f"{c} {h:.1f}" for c, h in hours.items()))
        return 0
    prepare()
    clip_errors = build_clips(chosen, args.workers)
    runs = ([(args.before, args.before_model)] if args.before else []) + [(args.after, args.model)]
    revs = [_revisions.prepare(r, args.cache, model) for r, model in runs]
    if len({r.label for r in revs}) < len(revs):
        raise SystemExit("evaluate: --before and --after name the same revision and model")
    names = [r.describe() for r in revs]
    print(f"{len(chosen)} scenarios x {len(revs)} revisions ({'; '.join(names)}), {args.workers} workers; "
          f"detector cache {'off' if args.no_detector_cache else 'on'}", flush=True)  # fmt: skip
    raw: dict[tuple[int, str], dict[str, Any]] = {}
    jobs = [(k, s) for s in sorted(chosen, key=_cost, reverse=True) for k in range(len(revs))]
    from concurrent.futures import ThreadPoolExecutor

    def job(k: int, s: Scenario) -> tuple[int, Scenario, dict[str, Any]]:
        why = s.available() or clip_errors.get(s.name)
        if why is not None:
            return k, s, {"scenario": s.name, "skipped": why}
        return k, s, _revisions.run_in(revs[k], s, args.cache, not args.no_detector_cache)

    try:
        with ThreadPoolExecutor(args.workers) as pool:
            futures = [pool.submit(job, k, s) for k, s in jobs]
            for fut in as_completed(futures):
                k, s, out = fut.result()
                raw[(k, s.name)] = out
                print(_progress(revs[k].label, s, out), flush=True)
    finally:
        for r in revs:
            _revisions.cleanup(r)
    tallies: dict[str, dict[str, dict[str, TypeStats]]] = {}
    for k, r in enumerate(revs):
        results = {}
        for s in chosen:
            out = raw[(k, s.name)]
            res = result_of(s, out) if not out.get("skipped") else RunResult(s.name, skipped=out["skipped"])
            results[s.name] = res
        tallies[r.label] = report(names[k], chosen, results)
    for split in ("all", "tuning", "held-out", "fresh"):
        print(f"\n== {split} scenarios")
        print(side_by_side({lb: t[split] for lb, t in tallies.items()}))
    wall = time.monotonic() - t_start
    for k in range(len(revs)):
        outs = [raw[(k, s.name)] for s in chosen if "frames" in raw[(k, s.name)]]
        frames = sum(o["frames"] for o in outs)
        media = sum(o["media_seconds"] for o in outs)
        cpu = sum(o.get("cpu_seconds", 0.0) for o in outs if not o.get("reused"))
        hits = sum(o.get("cache", {}).get("hits", 0) for o in outs)
        misses = sum(o.get("cache", {}).get("misses", 0) for o in outs)
        reused = sum(1 for o in outs if o.get("reused"))
        print(f"\n{names[k]}: {frames} frames analysed over {media / 3600:.2f} h of media; replay CPU {cpu / 60:.1f} min "
              f"in this run; detector cache {hits} hits / {misses} misses; {reused} scenario results reused")  # fmt: skip
    print(
        f"wall time {wall:.0f} s ({wall / 60:.1f} min) on {os.cpu_count()} cores with {args.workers} workers"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {names[k]: {s: raw[(k, s)] for (kk, s) in raw if kk == k} for k in range(len(revs))}, indent=1
            )
        )
    return 1 if any(o.get("error") for o in raw.values()) else 0


def _ran(r: RunResult) -> bool:
    return r.skipped is None and r.error is None


def _detail(a: SeenAlert) -> str:
    return f": {a.detail}" if a.detail else ""


def _progress(label: str, s: Scenario, out: dict[str, Any]) -> str:
    if out.get("skipped"):
        return f"  [{label}] {s.name:34} skipped: {out['skipped']}"
    if out.get("error"):
        return f"  [{label}] {s.name:34} ERROR {out['error'].splitlines()[0]}"
    alerts = ", ".join(f"{a['event_type']}@{a['at']:.0f}s" for a in out["alerts"]) or "no alerts"
    c = out.get("cache", {})
    how = (
        "reused"
        if out.get("reused")
        else f"{out['run_seconds']:6.1f} s, cache {c.get('hits', 0)}/{c.get('misses', 0)}"
    )
    return f"  [{label}] {s.name:34} {out['frames']:6d} frames ({how})  {alerts}"


if __name__ == "__main__":
    sys.exit(main())
