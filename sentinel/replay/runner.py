"""`sentinel replay`: the live pipeline (reader → detector → tracker → rules → alert JSON) over a video file,
as fast as the machine allows, so a technician can tune zones and thresholds before a camera goes live.

Writes into the output folder: `alerts.jsonl` (one `sentinel.alert/1` per line), `snapshots/`, `clips/`
(each alert's clip, cut as the daemon cuts it: remuxed, or re-encoded with the privacy masks burned in), an
annotated video of the analysed frames (`annotated.mp4`) and a contact sheet of the alert snapshots.
An alert's line is written once its clip is done, with the clip's final state.
"""

from __future__ import annotations

import queue
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import av
import cv2
import numpy as np

from sentinel.alerts.builder import build_alert, iso, new_alert_id, pending_clip
from sentinel.alerts.clip import (
    ClipJob,
    ClipResult,
    ClipWriter,
    clip_day,
    clip_path,
    clip_url,
    clips_enabled,
    ring_for,
)
from sentinel.alerts.schema import Alert, AlertClip
from sentinel.alerts.snapshot import SnapshotStore, render_snapshot
from sentinel.config.event_types import effective_event_types
from sentinel.config.models import CameraConfig, SentinelConfig
from sentinel.detect.detections import Detections
from sentinel.detect.privacy import privacy_mask_of
from sentinel.detect.rules import FrameContext, build_rules
from sentinel.detect.tracker import IouTracker
from sentinel.ingest.reader import CameraState, Frame, ReaderStatus, StreamReader

_END = object()


class ReplayError(Exception):
    """A problem with the replay's input (message for the technician)."""


@dataclass
class ReplayResult:
    frames: int = 0
    media_seconds: float = 0.0
    wall_seconds: float = 0.0
    alerts: list[Alert] = field(default_factory=list)
    error: str | None = None

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


def replay(
    video: Path,
    config: SentinelConfig,
    camera_id: str | None,
    out_dir: Path,
    detector: object,
    progress: Callable[[float, int, int], None] | None = None,
) -> ReplayResult:
    """Run the pipeline over `video`; `progress(fraction, frames, alerts)` is called about once a second."""
    if not video.is_file():
        raise ReplayError(f"{video}: no such file")
    camera = pick_camera(config, camera_id).model_copy(
        update={"source": str(video.resolve()), "realtime": False, "loop": False}
    )
    class_names: list[str] = detector.class_names  # type: ignore[attr-defined]
    try:
        rules = build_rules(camera, class_names, out_dir / "state" / camera.id)
    except ValueError as exc:
        raise ReplayError(f"camera {camera.id}: {exc}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    tz = ZoneInfo(config.site.timezone)
    types = effective_event_types(config.event_types)
    snapshots = SnapshotStore(out_dir)
    tracker = IouTracker()
    total = media_duration(video)
    frames: queue.Queue[Frame | object] = queue.Queue(maxsize=4)  # back-pressure: analyse every sampled frame
    statuses: list[ReaderStatus] = []

    def on_status(st: ReaderStatus) -> None:
        statuses.append(st)
        if st.state in (CameraState.stopped, CameraState.offline):
            frames.put(_END)

    privacy = privacy_mask_of(camera)
    pre, post = camera.clip_pre, camera.clip_post
    ring = ring_for(pre, post) if clips_enabled(pre, post) else None
    clips_done: queue.Queue[ClipResult] = queue.Queue()
    clip_writer = ClipWriter(clips_done.put, name="replay-clips")
    waiting: list[Alert] = []  # in order; each line is written once its clip is done

    def on_frame(frame: Frame) -> None:
        if ring is not None:
            ring.note_frame(frame.seq)
        frames.put(frame)

    def flush(jsonl: TextIO, final: bool = False) -> None:
        while True:
            try:
                done = clips_done.get_nowait()
            except queue.Empty:
                break
            for i, alert in enumerate(waiting):
                if alert.alert_id == done.alert_id:
                    waiting[i] = _with_clip(alert, done, tz)
        while waiting and (final or waiting[0].clip is None or waiting[0].clip.state != "pending"):
            alert = waiting.pop(0)
            result.alerts.append(alert)
            jsonl.write(alert.to_json() + "\n")
            jsonl.flush()

    reader = StreamReader(camera, on_frame, on_status, on_packet=ring.offer if ring is not None else None)
    result = ReplayResult()
    writer = AnnotatedVideo(out_dir / "annotated.mp4", fps=camera.analyze_fps)
    t_wall = time.monotonic()
    first_ts: float | None = None
    last_report = 0.0
    reader.start()
    clip_writer.start()
    try:
        with open(out_dir / "alerts.jsonl", "w", encoding="utf-8") as jsonl:
            while True:
                item = frames.get()
                if item is _END or not isinstance(item, Frame):
                    break
                first_ts = item.ts if first_ts is None else first_ts
                dets: Detections = detector.detect([item.image])[0]  # type: ignore[attr-defined]
                tracked = tracker.update(dets, item.ts)
                ctx = FrameContext(camera.id, item.ts, tracked, item.image, tracker)
                fired = []
                for rule in rules:
                    event = rule.evaluate(ctx)
                    if event is None:
                        continue
                    fired.append(event)
                    alert_id = new_alert_id()
                    jpeg = render_snapshot(item.image, event.objects, event.zone_polygon, privacy=privacy)
                    when = datetime.fromtimestamp(event.detected_at, tz)
                    snap = snapshots.save(alert_id, jpeg, when)
                    pending = None
                    if ring is not None:
                        dest = clip_path(out_dir, clip_day(when), alert_id)
                        job = ClipJob.plan(alert_id, ring, item.seq, item.ts, pre, post, dest, privacy)
                        clip_writer.submit(job)
                        pending = pending_clip(alert_id, event.detected_at, item.ts - pre, item.ts + post, tz)
                    event_type = types[event.event_type]
                    site = config.site.id
                    alert = build_alert(alert_id, site, event, camera, event_type, tz, snap, clip=pending)
                    waiting.append(alert)
                flush(jsonl)
                writer.add(item.image, tracked, class_names, camera, [e.event_type for e in fired])
                result.frames += 1
                result.media_seconds = item.ts - first_ts
                if progress is not None and time.monotonic() - last_report >= 1.0:
                    last_report = time.monotonic()
                    fraction = min(1.0, result.media_seconds / total) if total else 0.0
                    progress(fraction, result.frames, len(result.alerts) + len(waiting))
            reader.stop()
            reader.join(10)
            if ring is not None:
                ring.close()  # the clips still waiting for their `post` seconds get what there is
            clip_writer.finish(timeout=600)
            flush(jsonl, final=True)
    finally:
        reader.stop()
        reader.join(10)
        clip_writer.stop()
        writer.close()
    failed = [s for s in statuses if s.state is CameraState.offline]
    if failed and result.frames == 0:
        raise ReplayError(failed[0].error or "the video could not be read")
    result.wall_seconds = time.monotonic() - t_wall
    write_contact_sheet(out_dir / "contact_sheet.jpg", snapshots.root, result.alerts)
    return result


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


class AnnotatedVideo:
    """The analysed frames with detections, zones and fired rules drawn, as H.264 (≤ 960 px wide)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self.fps = max(1, round(fps))
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None

    def add(
        self, image: np.ndarray, dets: Detections, names: list[str], camera: CameraConfig, fired: list[str]
    ) -> None:
        h, w = image.shape[:2]
        scale = min(1.0, 960 / w)
        size = (int(w * scale) // 2 * 2, int(h * scale) // 2 * 2)
        canvas = cv2.resize(image, size) if scale < 1.0 else image[: size[1], : size[0]].copy()
        for zone in camera.zones:
            pts = (np.array(zone.polygon) * size).astype(np.int32)
            cv2.polylines(canvas, [pts], True, (0, 200, 255), 2)
        for box, cls, tid in zip(dets.xyxy, dets.class_id, dets.track_id, strict=True):
            x1, y1, x2, y2 = (box * [size[0], size[1], size[0], size[1]]).astype(int)
            cv2.rectangle(canvas, (x1, y1), (x2, y2), (40, 220, 40), 1)
            cv2.putText(
                canvas,
                f"{names[int(cls)]} #{tid}",
                (x1, max(10, y1 - 3)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.35,
                (40, 220, 40),
                1,
            )
        for i, name in enumerate(fired):
            cv2.putText(
                canvas, f"ALERT {name}", (10, 24 + 22 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (40, 40, 230), 2
            )
        if self._container is None:
            self._container = av.open(str(self.path), "w")
            self._stream = self._container.add_stream("libx264", rate=self.fps)
            self._stream.width, self._stream.height = size
            self._stream.pix_fmt = "yuv420p"
        assert self._stream is not None
        if (self._stream.width, self._stream.height) != size:
            canvas = cv2.resize(canvas, (self._stream.width, self._stream.height))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(canvas, dtype=np.uint8), format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._container is not None and self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()


def write_contact_sheet(path: Path, snapshot_root: Path, alerts: list[Alert], columns: int = 4) -> None:
    """A grid of alert snapshots (320 px wide each) labelled with type and time."""
    tiles = []
    for alert in alerts[:48]:
        if alert.snapshot is None:
            continue
        file = snapshot_root.parent / alert.snapshot.url.removeprefix("/media/")
        img = cv2.imread(str(file))
        if img is None:
            continue
        tile = cv2.resize(img, (320, int(320 * img.shape[0] / img.shape[1])))
        cv2.rectangle(tile, (0, 0), (320, 20), (0, 0, 0), -1)
        label = f"{alert.event_type} {alert.detected_at[11:19]} n={alert.count}"
        cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        tiles.append(tile)
    if not tiles:
        blank = np.zeros((60, 480, 3), np.uint8)
        cv2.putText(
            blank, "no alerts in this replay", (10, 38), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 1
        )
        cv2.imwrite(str(path), blank)
        return
    height = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles]
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    cv2.imwrite(str(path), np.vstack(rows))
