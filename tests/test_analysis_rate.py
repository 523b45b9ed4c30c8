"""The adaptive analysis rate (issue 19; a rule's ask, issue 16): the policy's bounds over long random runs,
the camera entry's validation, a rule's ask raising the camera's rate while armed, and a real reader run on
real footage whose delivered rate falls to the floor on a still picture and comes back on motion."""

from __future__ import annotations

import random
import statistics
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import ValidationError

from sentinel.config.models import CameraConfig, DetectorConfig, MotionGateConfig
from sentinel.detect.detections import Detections
from sentinel.detect.detectors import load_detector
from sentinel.ingest.reader import Frame
from sentinel.pipeline import CameraPipeline, analyse_batch
from sentinel.pipeline.analysis_rate import AnalysisRate, RateLimits, rate_limits
from tests.support.footage import still_then_vtest

TZ = "Asia/Shanghai"
CLASSES = ["person", "bicycle", "car"]


def test_the_rate_stays_within_its_limits_and_is_full_on_the_first_motion() -> None:
    for seed in range(20):
        rnd = random.Random(seed)
        full = rnd.uniform(0.2, 5.0)
        limits = RateLimits(full, rnd.uniform(0.02, full))
        policy = AnalysisRate(limits, slow_after=rnd.uniform(0.5, 30.0))
        ts, moving, reached_floor = 1000.0, False, False
        for _ in range(3000):
            if rnd.random() < 0.02:  # bursts of motion and of stillness
                moving = not moving
            if rnd.random() < 0.002:
                ts -= rnd.uniform(1, 100)  # a new stream: time goes back
            if rnd.random() < 0.005:  # a rule armed or disarmed: new limits
                full = rnd.uniform(0.2, 5.0)
                limits = RateLimits(full, rnd.uniform(0.02, full))
                assert limits.floor <= policy.set_limits(limits) <= limits.full
            rate = policy.observe(moving, ts)
            assert limits.floor <= rate <= limits.full, (seed, rate, limits)
            if moving:
                assert rate == limits.full  # at once: the very next frame is at full rate
            reached_floor |= rate == limits.floor
            ts += 1.0 / rate  # the reader's next sample
        assert reached_floor


def test_stepping_down_halves_each_slow_after_until_the_floor() -> None:
    policy = AnalysisRate(RateLimits(2.0, 0.25), slow_after=10.0)
    rates = [policy.observe(t == 0, float(t)) for t in range(0, 60, 5)]
    assert rates == [2.0, 2.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]
    assert policy.observe(True, 61.0) == 2.0


def test_limits_from_the_camera_and_the_rules_asks() -> None:
    assert rate_limits(1.0, 0.2, []) == RateLimits(1.0, 0.2)
    assert rate_limits(1.0, 0.2, [None, 3.0, 2.0]) == RateLimits(3.0, 3.0)  # never below an armed ask
    assert rate_limits(1.0, 0.2, [0.5]) == RateLimits(1.0, 0.5)
    with pytest.raises(ValueError, match="floor <= full"):
        RateLimits(1.0, 2.0)


def test_the_camera_entry_validates_its_floor() -> None:
    cam = CameraConfig(id="c", source="/x", analyze_fps=2, min_analyze_fps=0.5, slow_after="1m")
    assert (cam.analysis_floor, cam.slow_after) == (0.5, 60.0)
    assert CameraConfig(id="c", source="/x", analyze_fps=2).analysis_floor == 2.0  # default: adaptive off
    with pytest.raises(ValidationError, match=r"min_analyze_fps \(3\) must not exceed analyze_fps \(2\)"):
        CameraConfig(id="c", source="/x", analyze_fps=2, min_analyze_fps=3)
    with pytest.raises(ValidationError, match="greater than 0"):
        CameraConfig(id="c", source="/x", min_analyze_fps=0)


def _ts(hour: int) -> float:
    return datetime(2026, 12, 1, hour, 0, tzinfo=ZoneInfo(TZ)).timestamp()


def test_a_line_crossing_ask_raises_the_rate_while_armed(tmp_path: Path) -> None:
    crossing = {
        "kind": "line_crossing", "event_type": "vehicle_intrusion", "line": [[0, 0.5], [1, 0.5]],
        "analyze_fps": 3, "schedule": [{"from": "07:00", "to": "22:00"}],
    }  # fmt: skip
    cam = CameraConfig.model_validate(
        {"id": "c", "source": "/x", "analyze_fps": 1, "min_analyze_fps": 0.25, "slow_after": 5,
         "clip_pre": 0, "clip_post": 0, "rules": [crossing]}
    )  # fmt: skip
    pipe = CameraPipeline.for_camera(cam, DetectorConfig(), CLASSES, timezone=TZ)
    reader = pipe.reader(lambda f: None, lambda s: None)
    assert reader.status().analyze_fps == 3.0  # from the start: the ask raises the full rate
    still = np.full((360, 640, 3), 90, np.uint8)

    def run(start: float, seconds: float) -> list[float]:
        rates, ts = [], start
        while ts < start + seconds:
            frame = Frame("c", still, ts, True, 0)
            fresh = Detections.empty() if pipe.needs_inference(frame) else None
            pipe.analyse(frame, fresh)
            rates.append(reader.status().analyze_fps)
            ts += 1.0 / rates[-1]
        return rates

    by_day = run(_ts(12), 120)  # armed: a still picture never slows it below the rule's ask
    assert set(by_day) == {3.0}
    at_night = run(_ts(23), 120)  # disarmed: the camera's own limits; still for hours: at its floor
    assert set(at_night) == {0.25}
    assert set(run(_ts(12) + 86400, 60)) == {3.0}  # armed again the next day


def test_a_real_reader_slows_on_a_still_picture_and_comes_back_on_motion() -> None:
    clip = still_then_vtest(still_s=40, moving_s=20)  # 10 fps, a keyframe a second; people from 40 s
    cam = CameraConfig.model_validate(
        {"id": "r", "source": str(clip), "analyze_fps": 2, "min_analyze_fps": 0.25, "slow_after": 5,
         "realtime": False, "loop": False, "clip_pre": 0, "clip_post": 0}
    )  # fmt: skip
    detector = load_detector(DetectorConfig().model)
    pipe = CameraPipeline(cam, [], MotionGateConfig(), 416)
    seen: list[tuple[float, bool]] = []

    def analyse(frame: Frame) -> None:  # in the reader's thread: the rate is set before its next sample
        out = analyse_batch([(pipe, frame)], detector)
        seen.append((frame.ts, bool(out.inferred)))

    reader = pipe.reader(analyse, lambda s: None, media_origin=0.0)
    reader.start()
    reader.join(60)
    assert not reader.is_alive()
    times = [t for t, _ in seen]
    gaps = np.diff(times)
    assert min(gaps) >= 0.5 - 1e-3 and max(gaps) <= 4.0 + 1e-3  # never above full rate nor below the floor
    still_gaps = [g for t, g in zip(times[1:], gaps, strict=True) if 20 <= t < 40]
    assert still_gaps and all(abs(g - 4.0) < 1e-3 for g in still_gaps)  # at the floor on the still view
    first_moving = next(t for t in times if t > 40.05)  # 40.0 is the still picture, people move after
    assert first_moving <= 44.0 + 1e-3  # motion seen at the next floor-rate sample at the latest ...
    moving_gaps = [g for t, g in zip(times[1:], gaps, strict=True) if t > first_moving + 1.5]
    assert statistics.median(moving_gaps) == pytest.approx(0.5, abs=1e-3)  # ... then back at full rate
    status = reader.status()
    assert status.analyze_fps == 2.0
    # at the floor whole GOPs go undecoded: far fewer than the 600 frames of the clip
    assert status.frames_decoded < 0.6 * 600, status


def test_the_current_rate_reaches_the_camera_status_and_the_console() -> None:
    from sentinel.console.routes_site import camera_out
    from sentinel.daemon.camera_board import CameraBoard

    cam = CameraConfig(id="s", source="/x", analyze_fps=2, min_analyze_fps=0.5)
    pipe = CameraPipeline(cam, [], MotionGateConfig(), 0)
    reader = pipe.reader(lambda f: None, lambda s: None)
    reader.set_analyze_fps(0.5)
    heard: list[dict[str, object]] = []
    board = CameraBoard(ZoneInfo(TZ), 60.0, listeners=[heard.append])
    board.add(cam, 0)
    board.on_status(reader.status())
    assert heard[-1]["analyze_fps"] == 0.5
    assert camera_out(dict(heard[-1])).analyze_fps == 0.5


CHECKED = """\
cameras:
  - id: gate
    source: /x
    analyze_fps: 1
    min_analyze_fps: 0.25
    rules:
      - kind: line_crossing
        name: entering
        event_type: crowd_gathering
        line: [[0, 0.5], [1, 0.5]]
        analyze_fps: 2
        schedule: [{from: "07:00", to: "22:00"}]
"""


def _check(tmp_path: Path, cameras: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from sentinel.cli.main import main

    (tmp_path / "cameras.yaml").write_text(cameras, encoding="utf-8")
    main_file = tmp_path / "sentinel.yaml"
    model = Path(__file__).resolve().parents[1] / "models" / "nanodet-g-416.yaml"
    main_file.write_text(f"detector: {{model: {model}}}\ncameras_file: cameras.yaml\n", encoding="utf-8")
    code = main(["check", "--config", str(main_file)])
    out = capsys.readouterr()
    return code, out.err + out.out


def test_check_says_why_a_camera_runs_faster_and_names_a_bad_floor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _check(tmp_path, CHECKED, capsys)
    assert code == 0, text
    assert (
        "  camera gate analysed at 2 fps: rule entering (line_crossing) asks for it "
        "(while armed every day 07:00-22:00)" in text
    )
    assert "  camera gate adaptive: 1 fps on motion, halving after each 30 s still down to 0.25 fps" in text
    code, text = _check(tmp_path, CHECKED.replace("min_analyze_fps: 0.25", "min_analyze_fps: 3"), capsys)
    assert code == 2
    assert (
        "cameras.yaml:5: cameras[0].min_analyze_fps: min_analyze_fps (3) must not exceed analyze_fps (1)"
        in text
    )


def test_replay_runs_the_same_policy(tmp_path: Path) -> None:
    from sentinel.config.models import SentinelConfig
    from sentinel.replay.runner import replay

    clip = still_then_vtest(still_s=40, moving_s=20)
    cam = CameraConfig.model_validate(
        {"id": "p", "source": "/x", "analyze_fps": 2, "min_analyze_fps": 0.25, "slow_after": 5,
         "clip_pre": 0, "clip_post": 0,
         "rules": [{"kind": "count_in_zone", "event_type": "crowd_gathering", "min_count": 3}]}
    )  # fmt: skip
    config = SentinelConfig(cameras=[cam])
    result = replay(clip, config, "p", tmp_path, load_detector(config.detector), annotated=False)
    # at 2 fps throughout it would analyse 120 frames; slowed on the still 40 s, the 20 s of people at full rate
    assert 32 + 16 <= result.frames <= 62, result
    assert result.frames_decoded < 0.6 * 600


def test_keyframes_between_samples_are_not_decoded() -> None:
    from sentinel.ingest.reader import StreamReader
    from tests.support.footage import vtest_h264

    clip = vtest_h264(768, 576, fps=10, gop=10)  # 80 keyframes, one a second
    cam = CameraConfig(id="k", source=str(clip), analyze_fps=0.2, realtime=False, loop=False)
    got: list[float] = []
    reader = StreamReader(cam, lambda f: got.append(f.ts), lambda s: None, media_origin=0.0)
    reader.start()
    reader.join(60)
    assert np.allclose(np.diff(got), 5.0)  # a sample every 5 s, as before
    status = reader.status()
    assert status.decode_mode == "keyframes"
    # the first two GOPs decoded whole (the GOP is not known yet), then only the keyframes sampled
    assert status.frames_decoded < 20 + len(got) + 2, status
