"""Prometheus metrics of the daemon, in a registry of their own (served by the console at `/metrics`).

The supervisor updates them; the helpers take what it already has (worker heartbeats, camera statuses, case
changes) so it needs no bookkeeping of its own:

    metrics = SentinelMetrics(outbox_depth=store.outbox_depth)
    metrics.observe_heartbeat(msg.worker, msg.frames_analysed, msg.inference_ms)   # on Heartbeat
    metrics.observe_camera_analysis(msg.cameras)                                    # on Heartbeat
    metrics.observe_camera(camera_id, state, frames_decoded, frames_delivered)      # on CameraStatusMsg
    metrics.alerts.labels(event_type).inc()                                         # on a stored alert

Cases by state are counted from the database at every scrape (`set_case_counts`, called by the console).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sentinel.cases.state_machine import State

CONTENT_TYPE = CONTENT_TYPE_LATEST
INFERENCE_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5, 5.0)


class SentinelMetrics:
    def __init__(self, outbox_depth: Callable[[], int] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.frames_decoded = Counter(
            "sentinel_frames_decoded", "Frames decoded from camera streams", ["camera"], registry=r
        )
        self.frames_delivered = Counter(
            "sentinel_frames_delivered",
            "Frames handed on for analysis by the readers",
            ["camera"],
            registry=r,
        )
        self.frames_analysed = Counter(
            "sentinel_frames_analysed",
            "Frames analysed (tracker and rules), with or without inference (motion gate)",
            ["worker"],
            registry=r,
        )
        self.camera_frames_analysed = Counter(
            "sentinel_camera_frames_analysed",
            "Frames run through a camera's tracker and rules (with or without inference)",
            ["camera"],
            registry=r,
        )
        self.camera_inference_skipped = Counter(
            "sentinel_camera_inference_skipped",
            "Analysed frames whose detections were reused: the motion gate saw no change",
            ["camera"],
            registry=r,
        )
        self.inference_seconds = Histogram(
            "sentinel_inference_seconds", "Detector time per frame", ["worker"], buckets=INFERENCE_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.alerts = Counter("sentinel_alerts", "Alerts stored, by event type", ["event_type"], registry=r)
        self.outbox_depth = Gauge("sentinel_outbox_depth", "MQTT messages waiting in the outbox", registry=r)
        if outbox_depth is not None:
            self.outbox_depth.set_function(lambda: float(outbox_depth()))
        self.cases = Gauge("sentinel_cases", "Grid cases by state", ["state"], registry=r)
        self.camera_up = Gauge(
            "sentinel_camera_up", "1 while the camera delivers frames, else 0", ["camera"], registry=r
        )
        self.login_failures = Counter("sentinel_console_login_failures", "Failed console logins", registry=r)
        for state in State:
            self.cases.labels(state.value)
        self._lock = threading.Lock()
        self._frames: dict[tuple[str, str], int] = {}
        self._analysed: dict[str, int] = {}

    def _delta(self, key: tuple[str, str], total: int) -> int:
        """Counters from other processes are running totals; a smaller total means a restart."""
        last = self._frames.get(key)
        self._frames[key] = total
        return total if last is None or total < last else total - last

    def observe_camera(self, camera_id: str, state: str, frames_decoded: int, frames_delivered: int) -> None:
        """From a camera status (ReaderStatus): up/down and the frame counters."""
        with self._lock:
            self.camera_up.labels(camera_id).set(1.0 if state == "online" else 0.0)
            self.frames_decoded.labels(camera_id).inc(self._delta((camera_id, "decoded"), frames_decoded))
            self.frames_delivered.labels(camera_id).inc(
                self._delta((camera_id, "delivered"), frames_delivered)
            )

    def observe_camera_analysis(self, cameras: Mapping[str, tuple[int, int]]) -> None:
        """From a worker heartbeat: per camera (frames analysed, inference skipped), running totals."""
        with self._lock:
            for camera_id, (analysed, skipped) in cameras.items():
                self.camera_frames_analysed.labels(camera_id).inc(
                    self._delta((camera_id, "analysed"), analysed)
                )
                self.camera_inference_skipped.labels(camera_id).inc(
                    self._delta((camera_id, "skipped"), skipped)
                )

    def forget_camera(self, camera_id: str) -> None:
        """A camera removed from the registry."""
        with self._lock:
            for metric in (
                self.camera_up,
                self.frames_decoded,
                self.frames_delivered,
                self.camera_frames_analysed,
                self.camera_inference_skipped,
            ):
                with contextlib.suppress(KeyError):
                    metric.remove(camera_id)
            for key in ("decoded", "delivered", "analysed", "skipped"):
                self._frames.pop((camera_id, key), None)

    def observe_heartbeat(self, worker: int, frames_analysed: int, inference_ms: float) -> None:
        """From a worker heartbeat: frames analysed (running total) and the median inference time."""
        key = str(worker)
        with self._lock:
            last = self._analysed.get(key)
            self._analysed[key] = frames_analysed
            new = frames_analysed if last is None or frames_analysed < last else frames_analysed - last
            self.frames_analysed.labels(key).inc(new)
            if new and inference_ms > 0:
                self.inference_seconds.labels(key).observe(inference_ms / 1000.0)

    def set_case_counts(self, counts: Mapping[str, int]) -> None:
        for state in State:
            self.cases.labels(state.value).set(float(counts.get(state.value, 0)))

    def render(self) -> bytes:
        return generate_latest(self.registry)
