"""`CameraPipeline`: one camera's analysis, frame by frame -- motion gate, (the detector's output), tracker,
rules, rule conditions and the evidence plan (snapshot, clip). The daemon's workers, `sentinel replay` and
the benchmarks all build and run this class; none of them analyses a frame any other way.

The decoder's YUV picture is converted only as far as needed: a grey thumbnail for the gate, a small BGR
picture (`analysis_width`) for the detector and the image rules, full resolution only for a snapshot and
for the rectangles of a camera's `detect_tiles` zones (each converted alone, at its tile's size).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from sentinel.config.models import CameraConfig, DetectorConfig, MotionGateConfig
from sentinel.detect.detections import Detections
from sentinel.detect.hygiene import CameraHygiene
from sentinel.detect.motion_gate import MotionGate
from sentinel.detect.privacy import privacy_mask_of
from sentinel.detect.rules import FrameContext, Rule, RuleEvent, RuleParams, build_rules, rule_detector
from sentinel.detect.tiles import Size, TiledInput, TileLayout, compose, plan_tiles
from sentinel.detect.tracker import MotionTracker
from sentinel.ingest.packet_ring import PacketRing
from sentinel.ingest.reader import CameraState, Frame, ReaderStatus, StreamReader
from sentinel.pipeline.analysis_rate import AnalysisRate, RateLimits, rate_limits
from sentinel.pipeline.arbitration import RuleArbiter
from sentinel.pipeline.clips import ClipDestination, ClipJob, clips_enabled, ring_for
from sentinel.pipeline.outcomes import ClipPlan, ConditionChange, FrameOutcome, RuleAlert, new_alert_id
from sentinel.pipeline.schedules import RuleBuilder, RuleSchedules
from sentinel.pipeline.snapshot import render_snapshot

log = logging.getLogger(__name__)

CONDITION_REPEAT = 5.0  # seconds between repeats of an unchanged rule condition
SITE_TIMEZONE = "Asia/Shanghai"  # `site.timezone`'s default: rule schedules are in site time


ClassNames = list[str] | Mapping[str, list[str]]  # one detector's classes, or each named detector's


def camera_rules(camera: CameraConfig, class_names: ClassNames, state_dir: Path | None) -> list[Rule]:
    """The camera's rule objects (ValueError for a kind without an implementation): the one call into the
    rule registry, for every path."""
    return build_rules(camera, class_names, state_dir)


class DetectorTrack:
    """One detector's side of a camera: its last output (reused while the motion gate is shut) and the
    tracker over it. A camera whose rules read two detectors keeps two: ids of one model's boxes never
    mix with the other's."""

    def __init__(self) -> None:
        self.last: Detections | None = None
        self.tracker = MotionTracker()


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
        rule_detectors: Sequence[str] | None = None,
        class_names: ClassNames | None = None,
        rebuild_rule: Callable[[int], Rule] | None = None,
        timezone: str = SITE_TIMEZONE,
        build_rule: RuleBuilder | None = None,
    ) -> None:
        """`clip_dest` says where an alert's clip is written; without it (or with clip_pre + clip_post = 0)
        alerts get no clip. `rule_detectors[i]`: the name of the detector rule i reads (default: all read
        the camera's own). `rebuild_rule(i)`: rule i afresh, for when the camera's view is re-approved.
        `timezone`: the site's, for the rules' schedules and profiles; `build_rule(i, params)`: rule i with
        those parameters (schedules and profiles rebuild rules with it)."""
        self.camera = camera
        self.rules = rules
        self.arbiter = RuleArbiter(self.rules, rebuild_rule)  # tampered or offline: image rules pause
        self.schedules = RuleSchedules(camera, self.rules, timezone, build_rule, self.arbiter.replaced)
        if build_rule is not None and self.schedules.params:  # a re-approved view: rebuilt under its profile
            self.arbiter.rebuild = lambda i: build_rule(i, self.schedules.current_params(i))
        self.rule_detectors = (
            list(rule_detectors) if rule_detectors is not None else [camera.detector] * len(rules)
        )
        if len(self.rule_detectors) != len(rules):
            raise ValueError("rule_detectors must name one detector per rule")
        # the detectors this camera runs, the first one's boxes are `FrameOutcome.tracked`
        self.detectors = list(dict.fromkeys(self.rule_detectors)) or [camera.detector]
        self.analysis_width = analysis_width  # detector and image rules see frames at most this wide
        self.needs_image = any(r.uses_image for r in rules)  # the `Rule` protocol declares it
        self.gate = MotionGate(gate or MotionGateConfig(enabled=False))
        self.tracks = {name: DetectorTrack() for name in self.detectors}
        self.counts = CameraCounts()
        self.conditions: dict[int, tuple[bool, float]] = {}  # rule index -> (active, when last reported)
        self.privacy = privacy_mask_of(camera)  # blacked out before a snapshot or clip leaves the pipeline
        pre, post = camera.clip_pre, camera.clip_post
        self.ring: PacketRing | None = ring_for(pre, post) if clips_enabled(pre, post) else None
        self.clip_dest = clip_dest
        self.hygiene = CameraHygiene(camera.id, camera.detection_filter, class_names)  # before the tracker
        # the adaptive analysis rate, handed to the reader after each frame (`analysis_rate.py`)
        self.rate = AnalysisRate(self._rate_limits(), camera.slow_after)
        self._reader: StreamReader | None = None
        self._moved = True  # the motion gate's verdict on the frame being analysed
        polygons = {z.name: z.polygon for z in camera.zones}
        self.tile_zones = [(name, polygons[name]) for name in camera.detect_tiles]  # `detect_tiles`
        self._layouts: dict[tuple[Size, Size], TileLayout] = {}  # by (frame size, detector input size)

    @classmethod
    def for_camera(
        cls,
        camera: CameraConfig,
        detector: DetectorConfig,
        class_names: ClassNames,
        state_dir: Path | None = None,
        clip_dest: ClipDestination | None = None,
        timezone: str = SITE_TIMEZONE,
    ) -> CameraPipeline:
        """The pipeline as the config asks for it: the camera's rules, each reading its detector (the names
        in `class_names`, or one detector for all), the detector settings' motion gate and analysis width.
        ValueError if a rule cannot be built (e.g. a class the model lacks)."""
        rules = camera_rules(camera, class_names, state_dir)
        names = [rule_detector(camera, params) for params in camera.rules]
        if not isinstance(class_names, Mapping):  # one detector serves every rule, under the camera's name
            names = [camera.detector] * len(rules)

        def rebuild(index: int) -> Rule:
            return camera_rules(camera, class_names, state_dir)[index]

        def build(index: int, params: RuleParams) -> Rule:  # that one rule, with these parameters
            return camera_rules(camera.model_copy(update={"rules": [params]}), class_names, state_dir)[0]

        return cls(
            camera, rules, detector.motion_gate, detector.analysis_width, clip_dest, names, class_names, rebuild,
            timezone, build,
        )  # fmt: skip

    @property
    def tracker(self) -> MotionTracker:
        """The tracker of the camera's first detector (the only one, unless rules name others)."""
        return self.tracks[self.detectors[0]].tracker

    @property
    def last_dets(self) -> Detections | None:
        return self.tracks[self.detectors[0]].last

    # ---------------------------------------------------------------- the stream side

    def reader(
        self,
        deliver: Callable[[Frame], None],
        on_status: Callable[[ReaderStatus], None],
        media_origin: float | None = None,
    ) -> StreamReader:
        """A reader for this camera that feeds the clip ring (every packet) and hands frames to `deliver`."""
        ring = self.ring

        def status(st: ReaderStatus) -> None:
            self.note_status(st)
            on_status(st)

        def on_frame(frame: Frame) -> None:
            if ring is not None:
                ring.note_frame(frame.seq)  # where in the packet ring this frame came from
            deliver(frame)

        on_packet: Callable[[av.Packet], None] | None = ring.offer if ring is not None else None
        reader = StreamReader(self.camera, on_frame, status, on_packet=on_packet, media_origin=media_origin)
        reader.set_analyze_fps(self.rate.rate)  # a rule's ask may raise it above analyze_fps from the start
        self._reader = reader
        return reader

    def _rate_limits(self) -> RateLimits:
        cam = self.camera
        asks = [
            getattr(r, "wanted_fps", None) for i, r in enumerate(self.rules) if self.schedules.is_armed(i)
        ]
        return rate_limits(cam.analyze_fps, cam.analysis_floor, asks)

    def _follow_rate(self, ts: float) -> None:
        """The rate for the frames after this one, from the gate's verdict and the armed rules' asks."""
        before = self.rate.rate
        self.rate.set_limits(self._rate_limits())
        rate = self.rate.observe(self._moved, ts)
        self._moved = True  # a frame analysed without a verdict (no gate asked) counts as moving
        if self._reader is not None and rate != before:
            self._reader.set_analyze_fps(rate)

    def note_status(self, status: ReaderStatus) -> None:
        """The reader's state (its thread): while the stream is not online, image rules learn nothing."""
        self.arbiter.note_online(status.state == CameraState.online)

    def close(self) -> None:
        """The stream is over: clips waiting for more of it are written with what there is."""
        if self.ring is not None:
            self.ring.close()

    # ---------------------------------------------------------------- analysis

    def needs_inference(self, frame: Frame) -> bool:
        """The motion gate's verdict (a frame it passes over counts as skipped: its detections are reused)."""
        if not self.gate.cfg.enabled:
            return True  # no verdict: the adaptive rate stays at full rate
        if any(t.last is None for t in self.tracks.values()):  # nothing to reuse yet
            self.gate.reset()
        tw, th = self.gate.thumbnail_size(frame.width, frame.height)
        decision = self.gate.decide(frame.thumbnail(tw, th), frame.ts)
        infer = decision.infer
        self._moved = decision.reason in ("first", "changed")  # max_skip: a refresh, not motion
        if not infer:
            self.counts.skipped += 1
        return infer

    def detector_input(self, frame: Frame) -> np.ndarray:
        """The picture the detector is given for this frame (BGR, at most `analysis_width` wide)."""
        return frame.analysis_image(self.analysis_width)

    def detector_inputs(self, frame: Frame, input_size: Size | None) -> TiledInput:
        """The pictures a detector with that input size gets for this frame: the analysis image alone, or,
        with zone tiles, canvases of the input size holding the full view and the tiles
        (`sentinel.detect.tiles`; `TiledInput.merge` maps the boxes back)."""
        image = self.detector_input(frame)
        if not self.tile_zones or input_size is None:
            return TiledInput([image])
        layout = self.tile_layout((frame.width, frame.height), input_size)
        if not layout.tiles:  # no zone would be sharper in a tile: the plain picture, as without tiles
            return TiledInput([image])
        crops = [frame.crop_image(t.src, t.size) for t in layout.tiles]
        return TiledInput(compose(layout, image, crops), layout)

    def tile_layout(self, frame_size: Size, input_size: Size) -> TileLayout:
        key = (frame_size, input_size)
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = plan_tiles(frame_size, input_size, self.tile_zones)
            log.info(
                "camera %s: detector tiles for %dx%d frames: %s",
                self.camera.id,
                *frame_size,
                layout.describe(),
            )
        return layout

    def analyse(self, frame: Frame, fresh: Mapping[str, Detections] | Detections | None) -> FrameOutcome:
        """Tracker and rules over `frame`, with the detectors' `fresh` output for it by detector name (a bare
        `Detections`: the output of the camera's one detector), or (None) the last detections; returns the
        alerts with their evidence and the condition changes."""
        if isinstance(fresh, Detections):
            fresh = {self.detectors[0]: fresh}
        self.counts.analysed += 1
        tracked: dict[str, Detections] = {}
        for name, track in self.tracks.items():
            if fresh is not None and name in fresh:
                track.last = self.hygiene.clean(name, fresh[name], frame.width / max(frame.height, 1))
            dets = track.last if track.last is not None else Detections.empty()
            tracked[name] = track.tracker.update(dets, frame.ts)
        image = frame.analysis_image(self.analysis_width) if self.needs_image else None
        contexts = {
            name: FrameContext(self.camera.id, frame.ts, tracked[name], image, self.tracks[name].tracker)
            for name in self.tracks
        }
        alerts: list[RuleAlert] = []
        conditions: list[ConditionChange] = []
        outputs = alerts, conditions
        self.schedules.update(frame.ts)  # arm, disarm, switch profiles (may rebuild rules in place)
        self._follow_rate(frame.ts)
        for index in self.arbiter.guards:  # camera_health first: its verdict on this very frame counts
            self._run_rule(index, contexts, frame, outputs)
        self.arbiter.after_guards()
        for index in self.arbiter.others:
            armed = self.schedules.is_armed(index)
            if not (armed or self.schedules.learns_while_disarmed(index)):
                continue  # disarmed: not evaluated (learns nothing), no condition reported
            if self.arbiter.runs(index):  # paused image rules are not evaluated: they learn nothing
                self._run_rule(index, contexts, frame, outputs)
            elif armed:
                self._report_condition(index, frame.ts, conditions)
        return FrameOutcome(
            self.camera.id, frame.ts, bool(fresh), tracked[self.detectors[0]], tuple(alerts), tuple(conditions),
            tracked_by=tracked,
        )  # fmt: skip

    def _run_rule(
        self,
        index: int,
        contexts: Mapping[str, FrameContext],
        frame: Frame,
        outputs: tuple[list[RuleAlert], list[ConditionChange]],
    ) -> None:
        alerts, conditions = outputs
        event = self.rules[index].evaluate(contexts[self.rule_detectors[index]])
        if not self.schedules.is_armed(index):
            return  # disarmed, still learning (a guard, static_object): its alerts and conditions dropped
        self._report_condition(index, frame.ts, conditions)
        if event is not None:
            alerts.append(self._evidence(event, frame))

    def _report_condition(self, index: int, ts: float, conditions: list[ConditionChange]) -> None:
        """Rule `index`'s condition, when it changed or `CONDITION_REPEAT` after it was last reported."""
        rule = self.rules[index]
        active = rule.active
        last = self.conditions.get(index)
        if last is None or last[0] != active or ts - last[1] >= CONDITION_REPEAT:
            self.conditions[index] = (active, ts)
            conditions.append(ConditionChange(self.camera.id, rule.event_type, rule.zone, active, ts))

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
