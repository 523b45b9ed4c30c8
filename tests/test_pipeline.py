"""The one analysis path: the daemon's worker loop, `sentinel replay` and the evaluation harness all run
`sentinel.pipeline.CameraPipeline` (observed by wrapping its `analyse`, not replacing it), nobody patches
it, and replay stamps alerts in the recording's own time."""

from __future__ import annotations

import ast
import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import av
import cv2
import jsonschema
import numpy as np
import pytest

import sentinel.pipeline.camera
from bench.evaluate import camera_for, implemented, run_scenario
from bench.scenarios import smoke_scenarios, write_clip
from sentinel.config.models import CameraConfig, SentinelConfig
from sentinel.daemon.messages import CameraStatusMsg
from sentinel.daemon.worker import WorkerRuntime, WorkerSpec, run_worker
from sentinel.detect.detections import Detections
from sentinel.detect.detectors import load_detector
from sentinel.detect.settings import DetectorConfig
from sentinel.ingest.reader import Frame
from sentinel.pipeline import CameraPipeline, FrameOutcome, camera_rules
from sentinel.replay.media_clock import media_origin, parse_creation_time
from sentinel.replay.runner import media_duration, replay
from tests.support.footage import vtest_path

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "sentinel" / "data" / "alert.schema.json").read_text())


@pytest.fixture
def analyse_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[CameraPipeline, FrameOutcome]]]:
    """Every `CameraPipeline.analyse` call, recorded by a wrapper around the real method."""
    calls: list[tuple[CameraPipeline, FrameOutcome]] = []
    real = CameraPipeline.analyse

    def spy(self: CameraPipeline, frame: Frame, fresh: Detections | None) -> FrameOutcome:
        outcome = real(self, frame, fresh)
        calls.append((self, outcome))
        return outcome

    monkeypatch.setattr(CameraPipeline, "analyse", spy)
    yield calls


def _assigned_attributes(path: Path) -> list[str]:
    """`a.b = ...` / `setattr(...)` in a source file: how a module would replace another's names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else []
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Attribute | ast.Name):
                found.append(ast.unparse(t))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr":
            found.append(ast.unparse(node))
    return found


def test_worker_replay_and_evaluation_run_the_same_pipeline(
    tmp_path: Path, analyse_calls: list[tuple[CameraPipeline, FrameOutcome]]
) -> None:
    vtest_path()  # skips without the footage
    scenario = next(s for s in smoke_scenarios() if s.family == "crowd")
    clip = write_clip(scenario)
    camera = camera_for(scenario, implemented()).model_copy(
        update={"source": str(clip), "realtime": False, "loop": False, "clip_pre": 0, "clip_post": 0}
    )
    settings = DetectorConfig()
    detector = load_detector(settings)

    # 1. the daemon's worker loop, in this process, until it has analysed some frames
    out: queue.Queue[object] = queue.Queue()
    spec = WorkerSpec(0, [camera], settings, tmp_path / "data" / "cameras")
    runtime = WorkerRuntime(spec, out, detector)  # type: ignore[arg-type]
    stop = threading.Event()
    loop = threading.Thread(target=run_worker, args=(runtime, stop), daemon=True)
    loop.start()
    deadline = time.monotonic() + 60
    while len(analyse_calls) < 3 and time.monotonic() < deadline and loop.is_alive():
        time.sleep(0.1)
    stop.set()
    loop.join(30)
    worker_calls = list(analyse_calls)
    assert worker_calls, "the worker loop never analysed a frame"
    assert any(isinstance(m, CameraStatusMsg) for m in list(out.queue))

    # 2. sentinel replay
    replayed = replay(clip, SentinelConfig(cameras=[camera]), camera.id, tmp_path / "replay", detector)
    replay_calls = analyse_calls[len(worker_calls) :]
    assert len(replay_calls) == replayed.frames > 0

    # 3. the evaluation harness's per-scenario run
    before = len(analyse_calls)
    evaluated = run_scenario(scenario)
    assert evaluated.error is None, evaluated.error
    eval_calls = analyse_calls[before:]
    assert len(eval_calls) == evaluated.frames > 0

    for calls in (worker_calls, replay_calls, eval_calls):
        pipe = calls[0][0]
        assert type(pipe) is CameraPipeline
        # the daemon's settings in every path: the motion gate on, the 640-wide analysis image
        assert pipe.gate.cfg.enabled and pipe.analysis_width == settings.analysis_width == 640
    assert any(o.inferred for _, o in replay_calls) and any(o.inferred for _, o in eval_calls)
    # nobody replaced the class or its method (only this test's wrapper is in place)
    assert sentinel.pipeline.camera.CameraPipeline is CameraPipeline
    for source in [REPO / "bench" / "evaluate.py", REPO / "sentinel" / "daemon" / "worker.py", REPO / "bench" / "scenarios.py", *sorted((REPO / "sentinel" / "replay").glob("*.py"))]:  # fmt: skip
        patched = [a for a in _assigned_attributes(source) if "sentinel" in a or "CameraPipeline" in a]
        assert not patched, f"{source.name} replaces names of other modules: {patched}"


# ---------------------------------------------------------------- media time

W, H, FPS = 640, 360, 2
ARRIVAL = 7  # the frame in which the person walks in: t = 3.5 s


class DarkBlobDetector:
    """Finds the dark rectangles of `_scene` as people (exact ground truth for the alert's frame)."""

    class_names = ["person"]

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        out = []
        for f in frames:
            h, w = f.shape[:2]
            dark = (f.max(axis=2) < 40).astype(np.uint8)
            _, _, stats, _ = cv2.connectedComponentsWithStats(dark)
            boxes = [[x / w, y / h, (x + bw) / w, (y + bh) / h] for x, y, bw, bh, a in stats[1:] if a > 50]
            k = len(boxes)
            xyxy = np.array(boxes, np.float32).reshape(-1, 4)
            out.append(Detections(xyxy, np.full(k, 0.9, np.float32), np.zeros(k, np.int32)))
        return out


def _scene(i: int) -> np.ndarray:
    base = np.random.default_rng(1).integers(70, 200, (H // 40, W // 40, 3)).astype(np.uint8)
    img = cv2.resize(base, (W, H), interpolation=cv2.INTER_LINEAR)
    if i >= ARRIVAL:
        img[150:260, 300:340] = 20  # a person, bottom-centre inside the zone
    return img


def _clip(path: Path, frames: int = 14, created: str | None = None) -> Path:
    with av.open(str(path), "w") as out:
        if created is not None:
            out.metadata["creation_time"] = created
        stream = out.add_stream("libx264", rate=FPS, options={"g": "1", "bf": "0", "crf": "12"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(frames):
            picture = av.VideoFrame.from_ndarray(_scene(i), format="bgr24")
            picture.pts = i
            for packet in stream.encode(picture):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _config() -> SentinelConfig:
    camera = CameraConfig.model_validate(
        {
            "id": "gate", "source": "/dev/null", "decode": "all", "analyze_fps": FPS, "clip_pre": 0,
            "clip_post": 0, "zones": [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
            "rules": [{"kind": "count_in_zone", "event_type": "crowd_gathering", "zone": "all", "min_count": 1,
                       "min_duration": 0, "cooldown": 3600}],
        }
    )  # fmt: skip
    return SentinelConfig(cameras=[camera])


def _alert_lines(out: Path) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    for line in lines:
        jsonschema.validate(line, SCHEMA)
    return lines


def test_replay_stamps_alerts_in_media_time_from_creation_time(tmp_path: Path) -> None:
    created = "2025-03-01T08:00:00.000000Z"
    clip = _clip(tmp_path / "gate.mp4", created=created)
    origin = parse_creation_time(created)
    assert origin == datetime.fromisoformat("2025-03-01T08:00:00+00:00").timestamp()
    before = time.time()
    result = replay(clip, _config(), None, tmp_path / "out", DarkBlobDetector(), annotated=False)
    (alert,) = _alert_lines(tmp_path / "out")
    expected = origin + ARRIVAL / FPS  # the media time of the frame the person arrived in
    assert datetime.fromisoformat(str(alert["detected_at"])).timestamp() == pytest.approx(expected, abs=1e-3)
    assert datetime.fromisoformat(str(alert["started_at"])).timestamp() == pytest.approx(expected, abs=1e-3)
    assert (result.media_origin, result.origin_source) == (origin, "creation_time")
    # the run's own wall-clock time is kept apart, beside the alerts
    run = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert run["origin_source"] == "creation_time" and run["alerts"] == 1
    assert datetime.fromisoformat(run["replayed_at"]).timestamp() >= before - 1
    assert not (tmp_path / "out" / "annotated.mp4").exists()  # annotated=False
    assert (tmp_path / "out" / alert["snapshot"]["url"].removeprefix("/media/")).is_file()  # type: ignore[index,union-attr]


def test_replay_without_creation_time_counts_from_mtime_minus_duration(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "plain.mp4")
    filmed_until = datetime.fromisoformat("2024-11-05T17:30:00+08:00").timestamp()
    os.utime(clip, (filmed_until, filmed_until))
    duration = media_duration(clip)
    assert duration is not None and media_origin(clip).source == "mtime"
    result = replay(clip, _config(), None, tmp_path / "out", DarkBlobDetector(), annotated=False)
    (alert,) = _alert_lines(tmp_path / "out")
    expected = filmed_until - duration + ARRIVAL / FPS
    assert datetime.fromisoformat(str(alert["detected_at"])).timestamp() == pytest.approx(expected, abs=1e-3)
    assert result.origin_source == "mtime"


def test_a_failed_snapshot_leaves_none_and_the_alert_still_goes_out() -> None:
    """A frame whose full-resolution picture cannot be encoded: the alert is raised without a snapshot."""
    camera = _config().cameras[0]
    pipe = CameraPipeline(camera, camera_rules(camera, DarkBlobDetector.class_names, None))
    empty = np.zeros((0, 0, 3), np.uint8)  # nothing to encode: the JPEG encoder refuses it

    class BrokenFrame(Frame):
        @property
        def image(self) -> np.ndarray:
            return empty

    frame = BrokenFrame("gate", _scene(ARRIVAL), 100.0, True, 1)
    outcome = pipe.analyse(frame, DarkBlobDetector().detect([_scene(ARRIVAL)])[0])
    (alert,) = outcome.alerts
    assert alert.snapshot_jpeg is None and alert.alert_id and alert.event.count == 1
    assert [c.active for c in outcome.conditions] == [True]
