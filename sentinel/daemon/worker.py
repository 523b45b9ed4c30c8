"""An analysis worker process: reader threads for its share of the cameras, one ONNX Runtime session for all
of them, and a `CameraPipeline` per camera (the analysis itself: `sentinel.pipeline`). This module keeps
the process concerns only -- mailboxes, the loop, heartbeats, live-reload commands, the clip writer thread
-- and turns the pipelines' outcomes into messages for the supervisor.

Readers keep only the newest frame per camera (a slow detector skips frames rather than falling behind);
the loop takes whatever fresh frames there are and runs one analysis round over them (`analyse_batch`).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import statistics
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Protocol

import cv2

from sentinel.config.models import CameraConfig
from sentinel.config.site_time import use_site_time
from sentinel.daemon.channels import ChannelWriter
from sentinel.daemon.lifetime import die_with_parent, end_soon_after_sigterm, supervisor_pid
from sentinel.daemon.messages import (
    AddCamera,
    CameraFailed,
    CameraStatusMsg,
    ClipMsg,
    ConditionMsg,
    EventMsg,
    Heartbeat,
    RemoveCamera,
    WorkerCommand,
    WorkerFailed,
    WorkerMessage,
)
from sentinel.detect.detectors import DEFAULT_DETECTOR, Detector, DetectorPool, ModelError, UnknownDetector
from sentinel.detect.rules import camera_detectors
from sentinel.detect.settings import DetectorConfig, NamedDetectorConfig
from sentinel.ingest.reader import Frame, ReaderStatus, StreamReader
from sentinel.pipeline import CameraPipeline, FrameOutcome, analyse_batch
from sentinel.pipeline.clips import ClipResult, ClipWriter

log = logging.getLogger(__name__)


class MessageSink(Protocol):
    """Where a worker's messages go: its results channel to the supervisor (or, in tests, any queue)."""

    def put(self, obj: WorkerMessage, /) -> None: ...


@dataclass(frozen=True)
class WorkerSpec:
    index: int
    cameras: list[CameraConfig]
    detector: DetectorConfig
    state_dir: Path  # <data_dir>/cameras: per-camera lasting rule state
    log_level: int = logging.INFO
    detectors: Mapping[str, NamedDetectorConfig] = field(default_factory=dict)  # named, besides the default
    timezone: str = "Asia/Shanghai"  # site.timezone: the worker's log lines in site time

    def pool(self) -> DetectorPool:
        """The worker's detectors by name, each loaded once, when a camera first needs it."""
        return DetectorPool({DEFAULT_DETECTOR: self.detector, **self.detectors})


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


@dataclass(frozen=True)
class CameraFeed:
    """One camera in a worker: its reader, its mailbox and its pipeline."""

    pipeline: CameraPipeline
    mailbox: LatestFrame
    reader: StreamReader


class WorkerRuntime:
    """The cameras a worker currently serves; cameras can be added and removed while the others run."""

    def __init__(
        self, spec: WorkerSpec, out: MessageSink, detector: Detector, pool: DetectorPool | None = None
    ) -> None:
        """`detector`: the default one, loaded already; `pool`: where the named others come from."""
        self.spec = spec
        self.out = out
        self.detectors: dict[str, Detector] = {DEFAULT_DETECTOR: detector}
        self.pool = pool if pool is not None else spec.pool()
        self.ready = threading.Event()
        self.feeds: dict[str, CameraFeed] = {}
        index = spec.index

        def clip_done(result: ClipResult) -> None:  # the clip writer's thread
            out.put(ClipMsg.of(index, result))

        self.clips = ClipWriter(clip_done, name=f"clip-writer-{index}")
        self.clips.start()
        # clips are written here; the supervisor moves them to clips/DAY/ (state_dir is <data_dir>/cameras)
        self.clip_dir = spec.state_dir.parent / "clips" / ".incoming"

    def _clip_dest(self, alert_id: str, _detected_at: float) -> Path:
        return self.clip_dir / f"{alert_id}.mp4"

    def add(self, camera: CameraConfig) -> None:
        if camera.id in self.feeds:
            self.remove(camera.id)
        try:
            class_names = {name: self._detector(name).class_names for name in camera_detectors(camera)}
            pipe = CameraPipeline.for_camera(
                camera,
                self.spec.detector,
                class_names,
                self.spec.state_dir / camera.id,
                self._clip_dest,
                timezone=self.spec.timezone,
            )
        except (ValueError, ModelError, UnknownDetector) as exc:
            self.out.put(CameraFailed(self.spec.index, camera.id, str(exc)))
            return
        index = self.spec.index

        def on_status(st: ReaderStatus) -> None:
            self.out.put(CameraStatusMsg(index, st))

        mailbox = LatestFrame(self.ready)
        feed = CameraFeed(pipe, mailbox, pipe.reader(mailbox.put, on_status))
        self.feeds[camera.id] = feed
        feed.reader.start()

    def _detector(self, name: str) -> Detector:
        """A named detector, loaded the first time one of this worker's cameras needs it."""
        detector = self.detectors.get(name)
        if detector is None:
            detector = self.detectors[name] = self.pool.get(name)
        return detector

    def remove(self, camera_id: str) -> None:
        feed = self.feeds.pop(camera_id, None)
        if feed is None:
            return
        feed.pipeline.close()  # clips waiting for more of this camera are written with what there is
        feed.reader.stop()
        feed.reader.join(timeout=5)
        self.out.put(CameraStatusMsg(self.spec.index, feed.reader.status()))

    def stop_all(self) -> None:
        for feed in self.feeds.values():
            feed.reader.stop()
        for camera_id in list(self.feeds):
            self.remove(camera_id)
        self.clips.finish(timeout=3.0)  # clips still waiting: written with what was buffered (partial)

    def send(self, outcome: FrameOutcome) -> None:
        """A frame's outcome as messages: condition changes, then each alert; its clip job after the alert,
        so the supervisor always has the alert before the clip."""
        for message in outcome_messages(self.spec.index, outcome):
            self.out.put(message)
        for alert in outcome.alerts:
            if alert.clip_job is not None:
                self.clips.submit(alert.clip_job)  # written once `clip_post` seconds have come in


def outcome_messages(worker: int, outcome: FrameOutcome) -> list[WorkerMessage]:
    messages: list[WorkerMessage] = [
        ConditionMsg(worker, c.camera_id, c.event_type, c.zone, c.active, c.ts) for c in outcome.conditions
    ]
    messages += [EventMsg(worker, a.event, a.snapshot_jpeg, a.alert_id, a.clip) for a in outcome.alerts]
    return messages


def worker_main(
    spec: WorkerSpec, results: Connection, stop: MpEvent, commands: Queue[WorkerCommand] | None = None
) -> None:
    """Entry point of a worker process (spawned by the supervisor); `results`: the write end of this
    worker's own results pipe (`sentinel.daemon.channels`). It dies with the supervisor and ends within
    `TERM_GRACE` seconds of a SIGTERM (`sentinel.daemon.lifetime`)."""
    parent = supervisor_pid()
    die_with_parent(parent)  # Linux: SIGKILL when the supervisor dies; the loop's getppid() check elsewhere
    end_soon_after_sigterm(stop.set)
    logging.basicConfig(
        level=spec.log_level, format=f"%(asctime)s worker-{spec.index} %(levelname)s %(name)s: %(message)s"
    )
    use_site_time(spec.timezone)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the supervisor decides
    # one worker per core already: OpenCV's own thread pool would only oversubscribe the cores (its resizes
    # here are small); ONNX Runtime gets `detector.threads`
    cv2.setNumThreads(1)
    out = ChannelWriter(results, name=f"results-{spec.index}")
    try:
        pool = spec.pool()
        try:
            detector = pool.get(DEFAULT_DETECTOR)
        except Exception as exc:  # ModelError and anything else: report, do not spin
            out.put(WorkerFailed(spec.index, str(exc)))
            return
        run_worker(WorkerRuntime(spec, out, detector, pool), stop, commands, parent)
    finally:
        if os.getppid() != parent:
            # nobody reads the channel any more: exit without flushing it (a full pipe would block the exit)
            out.abandon()
        else:
            out.close()  # the last messages (final statuses, clips): the supervisor reads until we are gone


class StopSignal(Protocol):
    def is_set(self) -> bool: ...


def run_worker(
    runtime: WorkerRuntime,
    stop: StopSignal,
    commands: Queue[WorkerCommand] | queue.Queue[WorkerCommand] | None = None,
    parent: int | None = None,
) -> None:
    """The worker loop: start the spec's cameras, then analysis rounds over the fresh frames, heartbeats
    every second and live-reload commands, until `stop` is set (or the supervisor `parent` is gone)."""
    spec, out = runtime.spec, runtime.out
    for camera in spec.cameras:
        runtime.add(camera)
    analysed = inferred = 0
    timings: list[float] = []
    last_beat = 0.0
    try:
        while not stop.is_set():
            if parent is not None and os.getppid() != parent:
                log.error("supervisor is gone; stopping")
                break
            _apply_commands(runtime, commands)
            now = time.monotonic()
            if now - last_beat >= 1.0:
                feeds = runtime.feeds
                dropped = sum(f.mailbox.dropped for f in feeds.values())
                median = statistics.median(timings) if timings else 0.0
                counts = {
                    cid: (f.pipeline.counts.analysed, f.pipeline.counts.skipped) for cid, f in feeds.items()
                }
                out.put(
                    Heartbeat(spec.index, time.time(), analysed, dropped, round(median, 2), inferred, counts)
                )
                for feed in feeds.values():
                    out.put(CameraStatusMsg(spec.index, feed.reader.status()))
                timings = timings[-50:]
                last_beat = now
            runtime.ready.wait(timeout=0.5)
            runtime.ready.clear()
            batch = [
                (f.pipeline, fr) for f in list(runtime.feeds.values()) if (fr := f.mailbox.take()) is not None
            ]
            if not batch:
                continue
            result = analyse_batch(batch, runtime.detectors)
            for outcome in result.outcomes:
                runtime.send(outcome)
            if result.inferred:
                timings.append(result.per_frame_ms)
                inferred += result.inferred
            analysed += len(batch)
    finally:
        runtime.stop_all()


def _apply_commands(
    runtime: WorkerRuntime, commands: Queue[WorkerCommand] | queue.Queue[WorkerCommand] | None
) -> None:
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
