"""Motion gate and the worker's analysis round: an unchanged picture reuses the last detections (inference
skipped) while trackers and rules still see every frame; a change or `max_skip` brings the detector back.
Frames are synthetic 720p pictures with exact ground truth; the detector is a stand-in that counts its runs
and "sees" the dark rectangles drawn as people."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from sentinel.config.models import CameraConfig, MotionGateConfig
from sentinel.console.metrics import SentinelMetrics
from sentinel.detect.detections import Detections
from sentinel.detect.motion_gate import MotionGate
from sentinel.detect.rules import build_rules
from sentinel.ingest.reader import Frame
from sentinel.pipeline import CameraPipeline, RuleAlert, analyse_batch

W, H = 1280, 720
PERSON = (40, 110)  # a person's box in pixels at 720p, seen from a pole


def scene(people: list[tuple[int, int]], seed: int, noise: float = 4.0) -> np.ndarray:
    """A textured street (the same every time) with sensor noise (new every frame) and people at (x, y)
    (top-left, pixels) as dark rectangles."""
    base = np.random.default_rng(1).integers(60, 200, (H // 40, W // 40, 3)).astype(np.uint8)
    img = cv2.resize(base, (W, H), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    img += np.random.default_rng(seed).normal(0.0, noise, img.shape).astype(np.float32)
    for x, y in people:
        img[y : y + PERSON[1], x : x + PERSON[0]] = 25.0
    return np.clip(img, 0, 255).astype(np.uint8)


class CountingDetector:
    """Finds the dark rectangles (value < 40) of `scene`; counts its runs and the frame sizes it got."""

    class_names = ["person", "bicycle", "car"]

    def __init__(self) -> None:
        self.runs = 0
        self.sizes: list[tuple[int, int]] = []

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        out = []
        for f in frames:
            self.runs += 1
            h, w = f.shape[:2]
            self.sizes.append((w, h))
            dark = (f.max(axis=2) < 40).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(dark)
            boxes = [
                [x / w, y / h, (x + bw) / w, (y + bh) / h] for x, y, bw, bh, area in stats[1:] if area > 50
            ]
            k = len(boxes)
            out.append(
                Detections(
                    np.array(boxes, np.float32).reshape(-1, 4),
                    np.full(k, 0.9, np.float32),
                    np.zeros(k, np.int32),
                )
            )
        return out


def pipeline(rules: list[dict[str, object]] | None = None, **gate: object) -> CameraPipeline:
    camera = CameraConfig.model_validate(
        {"id": "cam", "source": "/x", "clip_pre": 0, "clip_post": 0, "rules": rules or []}
    )
    built = build_rules(camera, CountingDetector.class_names)
    return CameraPipeline(camera, built, MotionGateConfig(**gate), analysis_width=640)  # type: ignore[arg-type]


def run(
    pipe: CameraPipeline, det: CountingDetector, frames: list[Frame]
) -> tuple[list[int], list[RuleAlert]]:
    """Feed frames one round each; returns the indices the detector ran on and the alerts raised."""
    ran = []
    events: list[RuleAlert] = []
    for i, frame in enumerate(frames):
        result = analyse_batch([(pipe, frame)], det)
        if result.inferred:
            ran.append(i)
        events += [a for outcome in result.outcomes for a in outcome.alerts]
    return ran, events


CROWD = [(200 + 60 * i, 400) for i in range(4)]


def frames_of(pictures: list[np.ndarray], step: float = 2.0) -> list[Frame]:
    return [Frame("cam", p, 1000.0 + i * step, True, i + 1) for i, p in enumerate(pictures)]


def test_static_crowd_is_gated_and_its_alert_still_fires() -> None:
    """Four people standing still for 40 s at 0.5 fps: the detector runs on the first frame and then only
    when max_skip (10 s) forces it; every frame still reaches the rule, which fires after its 20 s."""
    pipe = pipeline(
        [{"kind": "count_in_zone", "event_type": "crowd_gathering", "min_count": 4, "min_duration": 20}]
    )
    det = CountingDetector()
    frames = frames_of([scene(CROWD, seed=i) for i in range(21)])
    ran, events = run(pipe, det, frames)
    assert ran == [0, 5, 10, 15, 20]  # t = 0, 10, 20, 30, 40 s: max_skip only
    assert pipe.counts.analysed == 21 and pipe.counts.skipped == 16
    assert len(events) == 1 and events[0].event.count == 4
    assert events[0].event.detected_at == pytest.approx(1020.0)  # on time: a skipped frame at t = 20 s
    assert events[0].snapshot_jpeg is not None
    snap = cv2.imdecode(np.frombuffer(events[0].snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert snap.shape[:2] == (H, W)  # evidence at full resolution
    assert set(det.sizes) == {(640, 360)}  # the detector saw the analysis picture


def test_reused_detections_keep_tracks_still_for_dwell() -> None:
    """A parked car (here: a dark box) under a gate that skips: the tracker sees the same box every frame,
    so the dwell rule measures its stay and fires."""
    pipe = pipeline(
        [{"kind": "dwell", "event_type": "motor_parking", "classes": ["person"], "min_duration": 30}]
    )
    det = CountingDetector()
    ran, events = run(pipe, det, frames_of([scene([(600, 300)], seed=i) for i in range(25)]))
    assert len(ran) < 25 // 2
    assert len(events) == 1 and events[0].event.rule_kind == "dwell"


def test_a_person_walking_in_brings_the_detector_back() -> None:
    det = CountingDetector()
    pipe = pipeline(
        [{"kind": "count_in_zone", "event_type": "crowd_gathering", "min_count": 1, "min_duration": 0}]
    )
    pictures = [scene([], seed=i) for i in range(3)] + [scene([(900, 500)], seed=3 + i) for i in range(3)]
    ran, events = run(pipe, det, frames_of(pictures))
    assert ran == [0, 3]  # first frame, then the one where someone appeared; then still again
    assert len(events) == 1 and events[0].event.detected_at == pytest.approx(1006.0)


def test_a_person_far_away_counts_as_change_but_noise_does_not() -> None:
    gate = MotionGate(MotionGateConfig())
    empty = Frame("c", scene([], seed=0, noise=8.0), 0.0, True, 1)
    size = gate.thumbnail_size(W, H)
    assert size == (96, 54)
    assert gate.decide(empty.thumbnail(*size), 0.0).reason == "first"
    noisy = Frame("c", scene([], seed=1, noise=8.0), 2.0, True, 2)
    d = gate.decide(noisy.thumbnail(*size), 2.0)
    assert not d.infer and d.changed == 0.0
    small = Frame("c", scene([(1000, 100)], seed=2, noise=8.0), 4.0, True, 3)  # 40 x 110 px, far corner
    assert gate.decide(small.thumbnail(*size), 4.0).reason == "changed"


def test_max_skip_forces_inference_and_a_new_stream_resets() -> None:
    gate = MotionGate(MotionGateConfig(max_skip=5.0))
    thumb = np.full((54, 96), 100, np.uint8)
    verdicts = [gate.decide(thumb, float(t)).infer for t in range(12)]
    assert verdicts == [True, False, False, False, False, True, False, False, False, False, True, False]
    assert gate.decide(thumb, 3.0).reason == "first"  # time went back: a new stream
    assert gate.decide(np.full((36, 64), 100, np.uint8), 4.0).reason == "first"  # another picture size


def test_slow_change_adds_up_against_the_last_inferred_frame() -> None:
    """A change too small to count between two frames still counts once it has added up."""
    gate = MotionGate(MotionGateConfig(max_skip=3600.0))
    thumb = np.full((54, 96), 100, np.uint8)
    gate.decide(thumb, 0.0)
    verdicts = []
    for i in range(1, 6):
        t = thumb.copy()
        t[:20, :20] = 100 + 4 * i  # +4 grey levels a frame; threshold 10
        verdicts.append(gate.decide(t, float(i)).reason)
    assert verdicts == ["still", "still", "changed", "still", "still"]


def test_disabled_gate_runs_every_frame() -> None:
    pipe = pipeline(enabled=False)
    det = CountingDetector()
    ran, _ = run(pipe, det, frames_of([scene(CROWD, seed=0)] * 4))
    assert ran == [0, 1, 2, 3] and pipe.counts.skipped == 0


def test_counters_reach_metrics() -> None:
    m = SentinelMetrics()
    m.observe_camera_analysis({"a": (10, 7), "b": (3, 0)})
    m.observe_camera_analysis({"a": (15, 11)})
    text = m.render().decode()
    assert 'sentinel_camera_frames_analysed_total{camera="a"} 15.0' in text
    assert 'sentinel_camera_inference_skipped_total{camera="a"} 11.0' in text
    assert 'sentinel_camera_frames_analysed_total{camera="b"} 3.0' in text
    m.observe_camera_analysis({"a": (2, 1)})  # the worker restarted: its totals start again
    assert 'sentinel_camera_frames_analysed_total{camera="a"} 17.0' in m.render().decode()
    m.forget_camera("a")
    assert 'camera="a"' not in m.render().decode()


def _decoded_720p(tmp_path: Path) -> av.VideoFrame:
    path = tmp_path / "one.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        picture = scene(CROWD, seed=0, noise=0.0)
        for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(path)) as inp:
        return next(inp.decode(video=0))


def test_frame_views_from_the_decoder_picture(tmp_path: Path) -> None:
    """From the YUV picture: the small BGR view matches the full picture shrunk, the thumbnail its luma;
    nothing is converted until asked for."""
    video = _decoded_720p(tmp_path)
    frame = Frame("c", None, 0.0, True, 1, video=video)
    assert (frame.width, frame.height) == (W, H)
    assert frame._image is None  # lazy: the reader converted nothing
    small = frame.analysis_image(640)
    assert small.shape == (360, 640, 3) and frame._image is None
    full = frame.image
    assert full.shape == (H, W, 3)
    shrunk = cv2.resize(full, (640, 360), interpolation=cv2.INTER_AREA)
    assert float(np.abs(shrunk.astype(int) - small).mean()) < 3.0
    thumb = frame.thumbnail(96, 54)
    grey = cv2.resize(cv2.cvtColor(full, cv2.COLOR_BGR2GRAY), (96, 54), interpolation=cv2.INTER_AREA)
    # luma is 16..235 where grey is 0..255: the same picture up to that scale
    assert float(np.abs((thumb.astype(float) - 16) * 255 / 219 - grey).mean()) < 4.0
    assert frame.analysis_image(0) is full and frame.analysis_image(2000) is full
    assert frame.analysis_image(640) is small  # computed once
