"""`sentinel replay`: the daemon's own analysis (`sentinel.pipeline.CameraPipeline`: motion gate, analysis
image, detector, tracker, rules, conditions, evidence) over a video file, as fast as the machine allows, so
a technician can tune zones and thresholds before a camera goes live. Events are placed on the ground and
in the grid as the daemon's intake places them (`sentinel.geo.placement.place_event`).

Alerts are stamped in media time (`sentinel.replay.media_clock`); when the replay ran is kept apart, in
`ReplayResult.replayed_at` and `replay.json`. Writes into the output folder: `alerts.jsonl` (one
`sentinel.alert/1` per line, each written once its clip is done, with the clip's final state),
`snapshots/`, `clips/` (cut as the daemon cuts them), `annotated.mp4` (unless `annotated=False`), a
contact sheet of the alert snapshots and `replay.json` (the run: video, media origin, wall-clock time).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import av

from sentinel.alerts.builder import build_alert, iso, pending_clip
from sentinel.alerts.clip import clip_day, clip_path, clip_url
from sentinel.alerts.schema import Alert, AlertClip
from sentinel.alerts.snapshot import SnapshotStore
from sentinel.config.event_types import effective_event_types
from sentinel.config.models import CameraConfig, SentinelConfig
from sentinel.detect.detectors import DEFAULT_DETECTOR, Detector, DetectorPool, ModelError, UnknownDetector
from sentinel.detect.rules import camera_detectors
from sentinel.geo.cells import GridCells
from sentinel.geo.geolocate import Geolocator
from sentinel.geo.grid_file import load_cells
from sentinel.geo.placement import place_event
from sentinel.ingest.reader import CameraState, Frame, ReaderStatus
from sentinel.pipeline import CameraPipeline, RuleAlert, analyse_batch
from sentinel.pipeline.clips import ClipResult, ClipWriter
from sentinel.replay.annotated_video import AnnotatedVideo
from sentinel.replay.contact_sheet import write_contact_sheet
from sentinel.replay.media_clock import media_origin

_END = object()


class ReplayError(Exception):
    """A problem with the replay's input (message for the technician)."""


@dataclass
class ReplayResult:
    frames: int = 0  # analysed (tracker and rules)
    frames_inferred: int = 0  # of those, the ones the detector ran on (the others: motion gate)
    frames_decoded: int = 0  # by the reader (fewer where an adaptive rate skips whole GOPs)
    media_seconds: float = 0.0
    wall_seconds: float = 0.0
    alerts: list[Alert] = field(default_factory=list)
    error: str | None = None
    media_origin: float = 0.0  # epoch seconds of the file's first frame: alert times count from here
    origin_source: str = ""  # "creation_time" or "mtime" (sentinel.replay.media_clock)
    replayed_at: str = ""  # wall-clock time the replay started (ISO 8601); no alert carries it

    def by_type(self) -> Counter[str]:
        return Counter(a.event_type for a in self.alerts)


def pick_camera(config: SentinelConfig, camera_id: str | None) -> CameraConfig:
    if camera_id is not None:
        for cam in config.cameras:
            if cam.id == camera_id:
                return cam
        known = ", ".join(c.id for c in config.cameras) or "none"
        raise ReplayError(f"no camera {camera_id!r} in the config (cameras: {known})")
    with_rules = [c for c in config.cameras if c.rules]
    if len(with_rules) != 1:
        raise ReplayError("say which camera's zones and rules to use: --camera ID")
    return with_rules[0]


def media_duration(video: Path) -> float | None:
    try:
        with av.open(str(video)) as c:
            if c.duration:
                return float(c.duration) / 1_000_000
    except av.error.FFmpegError:
        return None
    return None


class _AlertLines:
    """Alerts in order, each written to `alerts.jsonl` once its clip is done (or it has none)."""

    def __init__(self, jsonl: TextIO, tz: ZoneInfo, result: ReplayResult) -> None:
        self.jsonl, self.tz, self.result = jsonl, tz, result
        self.clips_done: queue.Queue[ClipResult] = queue.Queue()  # filled by the clip writer's thread
        self.waiting: list[Alert] = []

    def flush(self, final: bool = False) -> None:
        while True:
            try:
                done = self.clips_done.get_nowait()
            except queue.Empty:
                break
            for i, alert in enumerate(self.waiting):
                if alert.alert_id == done.alert_id:
                    self.waiting[i] = _with_clip(alert, done, self.tz)
        while self.waiting and (
            final or self.waiting[0].clip is None or self.waiting[0].clip.state != "pending"
        ):
            alert = self.waiting.pop(0)
            self.result.alerts.append(alert)
            self.jsonl.write(alert.to_json() + "\n")
            self.jsonl.flush()


def _placement(config: SentinelConfig, camera: CameraConfig) -> tuple[Geolocator, GridCells | None]:
    """The grid cells and the camera's geolocation, loaded as the daemon loads them."""
    try:
        cells = load_cells(config.grid.cells) if config.grid.cells is not None else None
    except Exception as exc:
        raise ReplayError(f"grid data: {exc}") from None
    return Geolocator([camera], cells), cells


def _detectors(config: SentinelConfig, camera: CameraConfig, default: Detector) -> dict[str, Detector]:
    """The detectors the camera's rules read: `default` as given, the named others loaded from the config."""
    pool = DetectorPool(config.detector_settings())
    return {n: default if n == DEFAULT_DETECTOR else pool.get(n) for n in camera_detectors(camera)}


def replay(
    video: Path,
    config: SentinelConfig,
    camera_id: str | None,
    out_dir: Path,
    detector: Detector,
    progress: Callable[[float, int, int], None] | None = None,
    annotated: bool = True,
) -> ReplayResult:
    """Run the camera's pipeline over `video`; `progress(fraction, frames, alerts)` about once a second.
    `annotated=False` skips annotated.mp4 (a technician's aid that plays no part in detection)."""
    if not video.is_file():
        raise ReplayError(f"{video}: no such file")
    camera = pick_camera(config, camera_id).model_copy(
        update={"source": str(video.resolve()), "realtime": False, "loop": False}
    )
    tz = ZoneInfo(config.site.timezone)

    def clip_dest(alert_id: str, detected_at: float) -> Path:
        return clip_path(out_dir, clip_day(datetime.fromtimestamp(detected_at, tz)), alert_id)

    try:
        detectors = _detectors(config, camera, detector)
        pipe = CameraPipeline.for_camera(
            camera, config.detector, {n: d.class_names for n, d in detectors.items()},
            out_dir / "state" / camera.id, clip_dest, timezone=config.site.timezone,
        )  # fmt: skip
    except (ValueError, ModelError, UnknownDetector) as exc:
        raise ReplayError(f"camera {camera.id}: {exc}") from None
    geolocator, cells = _placement(config, camera)
    out_dir.mkdir(parents=True, exist_ok=True)
    types = effective_event_types(config.event_types)
    snapshots = SnapshotStore(out_dir)
    origin = media_origin(video)
    result = ReplayResult(
        media_origin=origin.epoch,
        origin_source=origin.source,
        replayed_at=datetime.now(tz).isoformat(timespec="seconds"),
    )
    total = media_duration(video)
    frames: queue.Queue[Frame | object] = queue.Queue(maxsize=4)  # back-pressure: analyse every sampled frame
    statuses: list[ReaderStatus] = []

    def on_status(st: ReaderStatus) -> None:
        statuses.append(st)
        if st.state in (CameraState.stopped, CameraState.offline):
            frames.put(_END)

    def alert_of(found: RuleAlert) -> Alert:
        event = found.event
        when = datetime.fromtimestamp(event.detected_at, tz)
        jpeg = found.snapshot_jpeg
        snap = snapshots.save(found.alert_id, jpeg, when) if jpeg is not None else None
        plan = found.clip
        pending = pending_clip(found.alert_id, event.detected_at, plan.start, plan.end, tz) if plan else None
        location, grid, _ = place_event(geolocator, cells, camera, event.objects)
        return build_alert(
            found.alert_id, config.site.id, event, camera, types[event.event_type], tz, snap,
            place=(location, grid), clip=pending,
        )  # fmt: skip

    lockstep = _Lockstep(frames, pipe)
    reader = pipe.reader(lockstep.deliver, on_status, media_origin=origin.epoch)
    video_out = AnnotatedVideo(out_dir / "annotated.mp4", fps=camera.analyze_fps) if annotated else None
    t_wall = time.monotonic()
    first_ts: float | None = None
    last_report = 0.0
    with open(out_dir / "alerts.jsonl", "w", encoding="utf-8") as jsonl:
        lines = _AlertLines(jsonl, tz, result)
        clip_writer = ClipWriter(lines.clips_done.put, name="replay-clips")
        reader.start()
        clip_writer.start()
        try:
            while True:
                item = frames.get()
                if item is _END or not isinstance(item, Frame):
                    break
                first_ts = item.ts if first_ts is None else first_ts
                batch = analyse_batch([(pipe, item)], detectors)
                outcome = batch.outcomes[0]
                result.frames_inferred += batch.inferred
                for found in outcome.alerts:
                    lines.waiting.append(alert_of(found))
                    if found.clip_job is not None:
                        clip_writer.submit(found.clip_job)
                lines.flush()
                if video_out is not None:
                    fired = [a.event.event_type for a in outcome.alerts]
                    boxes = [(outcome.tracked_by[n], detectors[n].class_names) for n in pipe.detectors]
                    video_out.add(item.image, boxes, camera, fired)
                result.frames += 1
                lockstep.analysed()
                result.media_seconds = item.ts - first_ts
                if progress is not None and time.monotonic() - last_report >= 1.0:
                    last_report = time.monotonic()
                    fraction = min(1.0, result.media_seconds / total) if total else 0.0
                    progress(fraction, result.frames, len(result.alerts) + len(lines.waiting))
            reader.stop()
            reader.join(10)
            result.frames_decoded = reader.status().frames_decoded
            pipe.close()  # the clips still waiting for their `post` seconds get what there is
            clip_writer.finish(timeout=600)
            lines.flush(final=True)
        finally:
            lockstep.stop()
            reader.stop()
            reader.join(10)
            clip_writer.stop()
            if video_out is not None:
                video_out.close()
    failed = [s for s in statuses if s.state is CameraState.offline]
    if failed and result.frames == 0:
        raise ReplayError(failed[0].error or "the video could not be read")
    result.wall_seconds = time.monotonic() - t_wall
    write_contact_sheet(out_dir / "contact_sheet.jpg", snapshots.root, result.alerts, privacy=pipe.privacy)
    _write_run(out_dir / "replay.json", video, camera.id, result)
    return result


class _Lockstep:
    """Replay at machine speed with a rate that can change (adaptive, or a rule's ask): the reader waits for
    each frame's analysis before it picks its next sample, as a live camera's next sample comes long after
    the last one was analysed; otherwise the reader would run ahead at the old rate."""

    def __init__(self, frames: queue.Queue[Frame | object], pipe: CameraPipeline) -> None:
        self.frames = frames
        asks = any(getattr(rule, "wanted_fps", None) for rule in pipe.rules)
        self.on = pipe.rate.adaptive or asks
        self.done = threading.Semaphore(0)
        self.stopping = threading.Event()

    def deliver(self, frame: Frame) -> None:  # the reader's thread
        self.frames.put(frame)
        while self.on and not self.done.acquire(timeout=0.2) and not self.stopping.is_set():
            pass

    def analysed(self) -> None:
        self.done.release()

    def stop(self) -> None:
        self.stopping.set()


def _write_run(path: Path, video: Path, camera_id: str, result: ReplayResult) -> None:
    """The run itself, beside the alerts (which carry media time only)."""
    run = {k: v for k, v in asdict(result).items() if k not in ("alerts", "error")}
    run |= {"video": str(video), "camera_id": camera_id, "alerts": len(result.alerts)}
    path.write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")


def _with_clip(alert: Alert, done: ClipResult, tz: ZoneInfo) -> Alert:
    """The alert with its clip as written (paths relative to the replay folder, like snapshots)."""
    day = clip_day(datetime.fromisoformat(alert.detected_at))
    clip = AlertClip(
        url=clip_url(day, alert.alert_id) if done.path is not None else None,
        sha256=done.sha256,
        start=iso(done.start, tz) if done.start is not None else None,
        end=iso(done.end, tz) if done.end is not None else None,
        state=done.state,
        error=done.error,
    )
    return alert.model_copy(update={"clip": clip})
