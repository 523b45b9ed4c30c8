"""`CameraPipeline`: one camera's analysis, frame by frame -- motion gate, (the detector's output), tracker,
rules, rule conditions and the evidence plan (snapshot, clip). The daemon's workers, `sentinel replay` and
the benchmarks all build and run this class; none of them analyses a frame any other way.

The decoder's YUV picture is converted only as far as needed: a grey thumbnail for the gate, a small BGR
picture (`analysis_width`) for the detector and the image rules, full resolution only for a snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from sentinel.config.models import CameraConfig, DetectorConfig, MotionGateConfig
from sentinel.detect.detections import Detections
from sentinel.detect.motion_gate import MotionGate
from sentinel.detect.privacy import privacy_mask_of
from sentinel.detect.rules import FrameContext, Rule, RuleEvent, build_rules
from sentinel.detect.tracker import IouTracker
from sentinel.ingest.packet_ring import PacketRing
from sentinel.ingest.reader import Frame, ReaderStatus, StreamReader
from sentinel.pipeline.clips import ClipDestination, ClipJob, clips_enabled, ring_for
from sentinel.pipeline.outcomes import ClipPlan, ConditionChange, FrameOutcome, RuleAlert, new_alert_id
from sentinel.pipeline.snapshot import render_snapshot

log = logging.getLogger(__name__)

CONDITION_REPEAT = 5.0  # seconds between repeats of an unchanged rule condition


def camera_rules(camera: CameraConfig, class_names: list[str], state_dir: Path | None) -> list[Rule]:
    """The camera's rule objects (ValueError for a kind without an implementation): the one call into the
    rule registry, for every path."""
    return build_rules(camera, class_names, state_dir)


@dataclass
class CameraCounts:
    analysed: int = 0  # frames run through tracker and rules (at the analysis rate)
    skipped: int = 0  # of those, frames whose detections were reused (motion gate: unchanged picture)


class CameraPipeline:
    def __init__(
        self,
        camera: CameraConfig,
        rules: list[Rule],
        gate: MotionGateConfig | None = None,
        analysis_width: int = 0,
        clip_dest: ClipDestination | None = None,
    ) -> None:
        """`clip_dest` says where an alert's clip is written; without it (or with clip_pre + clip_post = 0)
        alerts get no clip."""
        self.camera = camera
        self.rules = rules
        self.analysis_width = analysis_width  # detector and image rules see frames at most this wide
        self.needs_image = any(r.uses_image for r in rules)  # the `Rule` protocol declares it
        self.gate = MotionGate(gate or MotionGateConfig(enabled=False))
        self.last_dets: Detections | None = None  # the last detector output, reused while the gate is shut
        self.counts = CameraCounts()
        self.tracker = IouTracker()
        self.conditions: dict[int, tuple[bool, float]] = {}  # rule index -> (active, when last reported)
        self.privacy = privacy_mask_of(camera)  # blacked out before a snapshot or clip leaves the pipeline
        pre, post = camera.clip_pre, camera.clip_post
        self.ring: PacketRing | None = ring_for(pre, post) if clips_enabled(pre, post) else None
        self.clip_dest = clip_dest

    @classmethod
    def for_camera(
        cls,
        camera: CameraConfig,
        detector: DetectorConfig,
        class_names: list[str],
        state_dir: Path | None = None,
        clip_dest: ClipDestination | None = None,
    ) -> CameraPipeline:
        """The pipeline as the config asks for it: the camera's rules, the detector settings' motion gate
        and analysis width. ValueError if a rule cannot be built (e.g. a class the model lacks)."""
        rules = camera_rules(camera, class_names, state_dir)
        return cls(camera, rules, detector.motion_gate, detector.analysis_width, clip_dest)

    # ---------------------------------------------------------------- the stream side

    def reader(
        self,
        deliver: Callable[[Frame], None],
        on_status: Callable[[ReaderStatus], None],
        media_origin: float | None = None,
    ) -> StreamReader:
        """A reader for this camera that feeds the clip ring (every packet) and hands frames to `deliver`."""
        ring = self.ring

        def on_frame(frame: Frame) -> None:
            if ring is not None:
                ring.note_frame(frame.seq)  # where in the packet ring this frame came from
            deliver(frame)

        on_packet: Callable[[av.Packet], None] | None = ring.offer if ring is not None else None
        return StreamReader(self.camera, on_frame, on_status, on_packet=on_packet, media_origin=media_origin)

    def close(self) -> None:
        """The stream is over: clips waiting for more of it are written with what there is."""
        if self.ring is not None:
            self.ring.close()

    # ---------------------------------------------------------------- analysis

    def needs_inference(self, frame: Frame) -> bool:
        """The motion gate's verdict (a frame it passes over counts as skipped: its detections are reused)."""
        if not self.gate.cfg.enabled:
            return True
        if self.last_dets is None:  # nothing to reuse yet
            self.gate.reset()
        tw, th = self.gate.thumbnail_size(frame.width, frame.height)
        infer = self.gate.decide(frame.thumbnail(tw, th), frame.ts).infer
        if not infer:
            self.counts.skipped += 1
        return infer

    def detector_input(self, frame: Frame) -> np.ndarray:
        """The picture the detector is given for this frame (BGR, at most `analysis_width` wide)."""
        return frame.analysis_image(self.analysis_width)

    def analyse(self, frame: Frame, fresh: Detections | None) -> FrameOutcome:
        """Tracker and rules over `frame`, with the detector's `fresh` output for it, or (None) the camera's
        last detections; returns the alerts with their evidence and the condition changes."""
        if fresh is not None:
            self.last_dets = fresh
        self.counts.analysed += 1
        dets = self.last_dets if self.last_dets is not None else Detections.empty()
        tracked = self.tracker.update(dets, frame.ts)
        image = frame.analysis_image(self.analysis_width) if self.needs_image else None
        ctx = FrameContext(self.camera.id, frame.ts, tracked, image, self.tracker)
        alerts: list[RuleAlert] = []
        conditions: list[ConditionChange] = []
        for index, rule in enumerate(self.rules):
            event = rule.evaluate(ctx)
            active = rule.active
            last = self.conditions.get(index)
            if last is None or last[0] != active or frame.ts - last[1] >= CONDITION_REPEAT:
                self.conditions[index] = (active, frame.ts)
                conditions.append(
                    ConditionChange(self.camera.id, rule.event_type, rule.zone, active, frame.ts)
                )
            if event is not None:
                alerts.append(self._evidence(event, frame))
        return FrameOutcome(
            self.camera.id, frame.ts, fresh is not None, tracked, tuple(alerts), tuple(conditions)
        )

    def _evidence(self, event: RuleEvent, frame: Frame) -> RuleAlert:
        alert_id = new_alert_id()
        try:
            jpeg: bytes | None = render_snapshot(  # evidence: full resolution, converted now
                frame.image, event.objects, event.zone_polygon, privacy=self.privacy
            )
        except Exception:  # a snapshot is evidence, not a precondition: the alert still goes out
            log.exception("camera %s: snapshot failed", self.camera.id)
            jpeg = None
        if self.ring is None or self.clip_dest is None:
            return RuleAlert(event, alert_id, jpeg)
        pre, post = self.camera.clip_pre, self.camera.clip_post
        dest = self.clip_dest(alert_id, event.detected_at)
        job = ClipJob.plan(alert_id, self.ring, frame.seq, frame.ts, pre, post, dest, self.privacy)
        return RuleAlert(event, alert_id, jpeg, ClipPlan(frame.ts - pre, frame.ts + post), job)
