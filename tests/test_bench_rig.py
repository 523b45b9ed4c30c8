"""The bench rig of `bench/cameras.py` at its largest: one RTSP server process serving 100 cameras from
memory, watched by 100 RTSP sessions at once (`bench/_rtsp_probe.py`: RTP over TCP, nothing decoded), and
the host check's message when a machine cannot host a camera count."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench._rig import BenchError, LoopRtspServer, MissingTool, check_host, check_tools
from bench._rtsp_probe import probe

pytestmark = pytest.mark.slow
CAMERAS = 100


@pytest.fixture(scope="module")
def rig_tools() -> None:
    try:
        check_tools()
    except MissingTool as exc:
        pytest.skip(str(exc))


def test_one_server_serves_100_cameras_each_from_its_own_point(rig_tools: None, footage_720p: Path) -> None:
    ids = [f"cam{i + 1:03d}" for i in range(CAMERAS)]
    starts = {c: 79.0 * i / CAMERAS for i, c in enumerate(ids)}
    delays = {c: 2.0 * i / CAMERAS for i, c in enumerate(ids)}
    with LoopRtspServer({c: footage_720p for c in ids}, starts, delays) as rtsp:
        assert len(rtsp.pids()) == 1  # no feeder process per camera
        sessions = probe([rtsp.url(c) for c in ids], seconds=5.0)
        status = rtsp.status()
        rtsp.check()
    failed = [(s.url, s.error) for s in sessions if s.error]
    assert not failed, failed[:5]
    # every camera streamed: frames, and at least one keyframe (GOP 2 s) a decoder could start from
    assert all(s.frames > 0 and s.keyframes >= 1 for s in sessions), [
        (s.url, s.frames, s.keyframes) for s in sessions if not (s.frames and s.keyframes)
    ]
    # cameras start at different points of the footage: their first keyframes differ (40 keyframes in 79 s)
    assert len({s.first_key_head for s in sessions}) >= 30
    assert status["mounts"] == CAMERAS and status["pushed"] >= sum(s.frames for s in sessions) * 0.9


def test_the_rig_says_when_the_machine_cannot_host_the_count() -> None:
    with pytest.raises(BenchError, match=r"cannot host 100000000 cameras: it needs .*open files"):
        check_host(100_000_000)


def test_the_sweep_runs_the_baseline_until_it_collapses_and_gives_a_ratio_only_where_both_kept_up() -> None:
    import argparse

    from bench._report import keeps_rate
    from bench.cameras import baseline_wanted, compare

    args = argparse.Namespace(no_baseline=False, baseline_max=None)
    assert baseline_wanted(args, 16, None) == (True, None)
    assert baseline_wanted(args, 64, 32) == (False, "collapsed at 32")
    assert baseline_wanted(argparse.Namespace(no_baseline=False, baseline_max=64), 64, 32) == (True, None)
    assert baseline_wanted(argparse.Namespace(no_baseline=False, baseline_max=64), 100, None)[0] is False

    def run(base_kept_up: bool, sentinel_min_fps: float) -> dict[str, object]:
        sentinel = {"cpu_s_per_camera_s": 0.02, "asked_fps": 0.5, "window_s": 60.0,
                    "analysed_fps": {"min": sentinel_min_fps}}  # fmt: skip
        return compare(
            {"sentinel": sentinel, "baseline": {"cpu_s_per_camera_s": 0.07, "kept_up": base_kept_up}}
        )

    assert run(True, 0.5)["cameras_per_core_ratio"] == pytest.approx(3.5)
    collapsed = run(False, 0.5)
    assert collapsed["cameras_per_core_ratio"] is None and collapsed["ratio_withheld"] == "baseline collapsed"
    assert collapsed["ratio_raw"] == pytest.approx(3.5)
    assert run(True, 0.3)["ratio_withheld"] == "Sentinel behind"
    # 15 s at 0.5 fps: 7.5 frames asked, 90 % of it less one frame of slack is 5.75: 6 keep the rate, 5 do not
    assert keeps_rate(7 / 15, 0.5, 15.0) and keeps_rate(6 / 15, 0.5, 15.0)
    assert not keeps_rate(5 / 15, 0.5, 15.0)
