"""An analysis worker process: reader threads for its share of the cameras, one ONNX Runtime session for all
of them, a tracker and rules per camera. It sends the supervisor statuses, heartbeats and rule events.

Readers keep only the newest frame per camera (a slow detector skips frames rather than falling behind);
the loop takes whatever fresh frames there are. Per camera, a motion gate decides whether a frame needs the
detector at all (an unchanged picture reuses the last detections); the frames that do are run one after
another (a batched run of the NanoDet graph is no faster per frame on a CPU: bench/analysis_path.py). The
decoder's YUV picture is converted only as far as needed: a grey thumbnail for the gate, a small BGR picture
(`detector.analysis_width`) for the detector and the image rules, full resolution only for a snapshot.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import statistics
import threading
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import cv2

from sentinel.alerts.builder import new_alert_id
from sentinel.alerts.clip import ClipJob, ClipResult, ClipWriter, clips_enabled, ring_for
from sentinel.alerts.snapshot import render_snapshot
from sentinel.config.models import CameraConfig, DetectorConfig, MotionGateConfig
from sentinel.daemon.messages import (
    AddCamera,
    CameraFailed,
    CameraStatusMsg,
    ClipMsg,
    ClipPlan,
    ConditionMsg,
    EventMsg,
    Heartbeat,
    RemoveCamera,
    WorkerCommand,
    WorkerFailed,
    WorkerMessage,
)
from sentinel.detect.detections import Detections
from sentinel.detect.motion_gate import MotionGate
from sentinel.detect.privacy import privacy_mask_of
from sentinel.detect.rules import FrameContext, Rule, build_rules
from sentinel.detect.tracker import IouTracker
from sentinel.ingest.packet_ring import PacketRing
from sentinel.ingest.reader import Frame, ReaderStatus, StreamReader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSpec:
    index: int
    cameras: list[CameraConfig]
    detector: DetectorConfig
    state_dir: Path  # <data_dir>/cameras: per-camera lasting rule state
    log_level: int = logging.INFO


class LatestFrame:
    """A one-frame mailbox per camera: a newer frame replaces an unanalysed older one (counted as dropped)."""

    def __init__(self, ready: threading.Event) -> None:
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._ready = ready
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._lock:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
        self._ready.set()

    def take(self) -> Frame | None:
        with self._lock:
            frame, self._frame = self._frame, None
            return frame


@dataclass
class CameraCounts:
    analysed: int = 0  # frames run through tracker and rules (at the analysis rate)
    skipped: int = 0  # of those, frames whose detections were reused (motion gate: unchanged picture)


class CameraPipeline:
    def __init__(
        self,
        camera: CameraConfig,
        rules: list[Rule],
        ready: threading.Event,
        gate: MotionGateConfig | None = None,
        analysis_width: int = 0,
    ) -> None:
        self.camera = camera
        self.rules = rules
        self.analysis_width = analysis_width  # detector and image rules see frames at most this wide
        self.needs_image = any(getattr(r, "uses_image", True) for r in rules)  # unknown kinds: assume so
        self.gate = MotionGate(gate or MotionGateConfig(enabled=False))
        self.last_dets: Detections | None = None  # the last detector output, reused while the gate is shut
        self.counts = CameraCounts()
        self.tracker = IouTracker()
        self.mailbox = LatestFrame(ready)
        self.conditions: dict[int, tuple[bool, float]] = {}  # rule index → (active, when last sent)
        self.privacy = privacy_mask_of(camera)  # blacked out before a snapshot or clip leaves the worker
        pre, post = camera.clip_pre, camera.clip_post
        self.ring: PacketRing | None = ring_for(pre, post) if clips_enabled(pre, post) else None
        self.clips: ClipWriter | None = None  # the worker's clip writer thread
        self.clip_dir = Path()  # clips are written here; the supervisor moves them to clips/DAY/


class WorkerRuntime:
    """The cameras a worker currently serves; cameras can be added and removed while the others run."""

    def __init__(self, spec: WorkerSpec, out: Queue[WorkerMessage], detector: Any) -> None:
        self.spec = spec
        self.out = out
        self.detector = detector
        self.ready = threading.Event()
        self.pipelines: dict[str, CameraPipeline] = {}
        self.readers: dict[str, StreamReader] = {}
        index = spec.index

        def clip_done(result: ClipResult) -> None:  # the clip writer's thread
            out.put(ClipMsg.of(index, result))

        self.clips = ClipWriter(clip_done, name=f"clip-writer-{index}")
        self.clips.start()
        self.clip_dir = spec.state_dir.parent / "clips" / ".incoming"  # state_dir is <data_dir>/cameras

    def add(self, camera: CameraConfig) -> None:
        if camera.id in self.pipelines:
            self.remove(camera.id)
        try:
            rules = build_rules(camera, self.detector.class_names, self.spec.state_dir / camera.id)
        except ValueError as exc:
            self.out.put(CameraFailed(self.spec.index, camera.id, str(exc)))
            return
        det = self.spec.detector
        pipe = CameraPipeline(camera, rules, self.ready, det.motion_gate, det.analysis_width)
        index = self.spec.index

        def on_status(st: ReaderStatus) -> None:
            self.out.put(CameraStatusMsg(index, st))

        pipe.clips, pipe.clip_dir = self.clips, self.clip_dir
        ring = pipe.ring

        def on_frame(frame: Frame) -> None:
            if ring is not None:
                ring.note_frame(frame.seq)  # where in the packet ring this frame came from
            pipe.mailbox.put(frame)

        reader = StreamReader(camera, on_frame, on_status, on_packet=ring.offer if ring is not None else None)
        self.pipelines[camera.id] = pipe
        self.readers[camera.id] = reader
        reader.start()

    def remove(self, camera_id: str) -> None:
        reader = self.readers.pop(camera_id, None)
        pipe = self.pipelines.pop(camera_id, None)
        if pipe is not None and pipe.ring is not None:
            pipe.ring.close()  # clips waiting for more of this camera are written with what there is
        if reader is not None:
            reader.stop()
            reader.join(timeout=5)
            self.out.put(CameraStatusMsg(self.spec.index, reader.status()))

    def stop_all(self) -> None:
        for reader in self.readers.values():
            reader.stop()
        for camera_id in list(self.readers):
            self.remove(camera_id)
        self.clips.finish(timeout=3.0)  # clips still waiting: written with what was buffered (partial)


def worker_main(
    spec: WorkerSpec, out: Queue[WorkerMessage], stop: MpEvent, commands: Queue[WorkerCommand] | None = None
) -> None:
    """Entry point of a worker process (spawned by the supervisor)."""
    logging.basicConfig(
        level=spec.log_level, format=f"%(asctime)s worker-{spec.index} %(levelname)s %(name)s: %(message)s"
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the supervisor decides
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # one worker per core already: OpenCV's own thread pool would only oversubscribe the cores (its resizes
    # here are small); ONNX Runtime gets `detector.threads`
    cv2.setNumThreads(1)
    parent = os.getppid()
    try:
        detector = _load_detector(spec.detector)
    except Exception as exc:  # ModelError and anything else: report, do not spin
        out.put(WorkerFailed(spec.index, str(exc)))
        return

    runtime = WorkerRuntime(spec, out, detector)
    for camera in spec.cameras:
        runtime.add(camera)

    analysed = inferred = 0
    timings: list[float] = []
    last_beat = 0.0
    try:
        while not stop.is_set():
            if os.getppid() != parent:
                log.error("supervisor is gone; stopping")
                break
            _apply_commands(runtime, commands)
            now = time.monotonic()
            if now - last_beat >= 1.0:
                dropped = sum(p.mailbox.dropped for p in runtime.pipelines.values())
                median = statistics.median(timings) if timings else 0.0
                counts = {cid: (p.counts.analysed, p.counts.skipped) for cid, p in runtime.pipelines.items()}
                out.put(
                    Heartbeat(spec.index, time.time(), analysed, dropped, round(median, 2), inferred, counts)
                )
                for reader in runtime.readers.values():
                    out.put(CameraStatusMsg(spec.index, reader.status()))
                timings = timings[-50:]
                last_beat = now
            runtime.ready.wait(timeout=0.5)
            runtime.ready.clear()
            batch = [(p, f) for p in list(runtime.pipelines.values()) if (f := p.mailbox.take()) is not None]
            if not batch:
                continue
            ran, per_frame_ms = analyse_batch(spec.index, batch, detector, out)
            if ran:
                timings.append(per_frame_ms)
                inferred += ran
            analysed += len(batch)
    finally:
        runtime.stop_all()


def analyse_batch(
    worker: int, batch: list[tuple[CameraPipeline, Frame]], detector: Any, out: Queue[WorkerMessage]
) -> tuple[int, float]:
    """One round of the worker loop over the fresh frames of its cameras: the motion gate picks the frames
    that need the detector, the detector runs on those (at `analysis_width`), then every camera's tracker
    and rules see their frame, with new detections or the camera's last ones. Returns (frames the detector
    ran on, its milliseconds per frame)."""
    todo = [(p, f) for p, f in batch if _needs_inference(p, f)]
    per_frame_ms = 0.0
    if todo:
        t0 = time.perf_counter()
        results = detector.detect([f.analysis_image(p.analysis_width) for p, f in todo])
        per_frame_ms = (time.perf_counter() - t0) * 1000 / len(todo)
        for (pipe, _), dets in zip(todo, results, strict=True):
            pipe.last_dets = dets
    for pipe, frame in batch:
        pipe.counts.analysed += 1
        dets = pipe.last_dets if pipe.last_dets is not None else Detections.empty()
        _apply_rules(worker, pipe, frame, dets, out)
    return len(todo), per_frame_ms


def _needs_inference(pipe: CameraPipeline, frame: Frame) -> bool:
    """The motion gate's verdict (a frame it passes over counts as skipped: its detections are reused)."""
    if not pipe.gate.cfg.enabled:
        return True
    if pipe.last_dets is None:  # nothing to reuse yet
        pipe.gate.reset()
    tw, th = pipe.gate.thumbnail_size(frame.width, frame.height)
    infer = pipe.gate.decide(frame.thumbnail(tw, th), frame.ts).infer
    if not infer:
        pipe.counts.skipped += 1
    return infer


def _apply_commands(runtime: WorkerRuntime, commands: Queue[WorkerCommand] | None) -> None:
    """Live reload: cameras added, changed (= removed and added) or removed by the supervisor."""
    while commands is not None:
        try:
            cmd = commands.get_nowait()
        except queue.Empty:
            return
        if isinstance(cmd, AddCamera):
            log.info("camera %s: starting", cmd.camera.id)
            runtime.add(cmd.camera)
        elif isinstance(cmd, RemoveCamera):
            log.info("camera %s: stopping", cmd.camera_id)
            runtime.remove(cmd.camera_id)


CONDITION_REPEAT = 5.0  # seconds between repeats of an unchanged rule condition


def _apply_rules(
    worker: int, pipe: CameraPipeline, frame: Frame, dets: Any, out: Queue[WorkerMessage]
) -> None:
    tracked = pipe.tracker.update(dets, frame.ts)
    image = frame.analysis_image(pipe.analysis_width) if pipe.needs_image else None
    for index, rule in enumerate(pipe.rules):
        event = rule.evaluate(FrameContext(pipe.camera.id, frame.ts, tracked, image, pipe.tracker))
        active = rule.active
        last = pipe.conditions.get(index)
        if last is None or last[0] != active or frame.ts - last[1] >= CONDITION_REPEAT:
            pipe.conditions[index] = (active, frame.ts)
            out.put(ConditionMsg(worker, pipe.camera.id, rule.event_type, rule.zone, active, frame.ts))
        if event is None:
            continue
        alert_id = new_alert_id()  # chosen here, so the clip that follows later can name its alert
        try:
            jpeg: bytes | None = render_snapshot(  # evidence: full resolution, converted now
                frame.image, event.objects, event.zone_polygon, privacy=pipe.privacy
            )
        except Exception:  # a snapshot is evidence, not a precondition: the alert still goes out
            log.exception("camera %s: snapshot failed", pipe.camera.id)
            jpeg = None
        job = None
        if pipe.ring is not None and pipe.clips is not None:
            cam = pipe.camera
            job = ClipJob.plan(
                alert_id, pipe.ring, frame.seq, frame.ts, cam.clip_pre, cam.clip_post,
                pipe.clip_dir / f"{alert_id}.mp4", pipe.privacy,
            )  # fmt: skip
        plan = ClipPlan(frame.ts - pipe.camera.clip_pre, frame.ts + pipe.camera.clip_post) if job else None
        out.put(EventMsg(worker, event, jpeg, alert_id=alert_id, clip=plan))  # the alert goes out now
        if job is not None and pipe.clips is not None:
            pipe.clips.submit(job)  # ... and its clip once `clip_post` seconds have come in


def _load_detector(cfg: DetectorConfig) -> Any:
    """The backend the model card names (nanodet, yolov5/v8/v11, generic); ModelError if it cannot start."""
    from sentinel.detect.backends import load_detector

    return load_detector(
        cfg.model, score_threshold=cfg.score_threshold, nms_iou=cfg.nms_iou, intra_op_threads=cfg.threads
    )
