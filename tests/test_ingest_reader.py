"""The PyAV reader on real footage files: sampling rate, decode modes, looping, errors and masking."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from sentinel.config.models import CameraConfig
from sentinel.ingest.backoff import Backoff
from sentinel.ingest.reader import CameraState, Frame, ReaderStatus, StreamReader
from sentinel.ingest.source import mask_url
from tests.support.footage import vtest_h264


class Collector:
    def __init__(self, want: int) -> None:
        self.frames: list[Frame] = []
        self.statuses: list[ReaderStatus] = []
        self.want = want
        self.done = threading.Event()

    def frame(self, f: Frame) -> None:
        self.frames.append(f)
        if len(self.frames) >= self.want:
            self.done.set()

    def status(self, s: ReaderStatus) -> None:
        self.statuses.append(s)


def read(source: str, want: int, timeout: float = 30.0, **kw: object) -> tuple[Collector, StreamReader]:
    cam = CameraConfig.model_validate({"id": "c1", "source": source, "realtime": False, **kw})
    col = Collector(want)
    reader = StreamReader(cam, col.frame, col.status, backoff=Backoff(0.05, 0.2))
    reader.start()
    deadline = time.monotonic() + timeout
    while not col.done.wait(0.05) and reader.is_alive() and time.monotonic() < deadline:
        pass
    reader.stop()
    reader.join(10)
    assert not reader.is_alive()
    return col, reader


@pytest.fixture(scope="module")
def clip() -> Path:
    return vtest_h264(1280, 720, fps=25, gop=50)


def test_all_mode_samples_at_analyze_fps(clip: Path) -> None:
    col, reader = read(str(clip), want=20, decode="all", analyze_fps=5)
    gaps = [b.ts - a.ts for a, b in zip(col.frames, col.frames[1:], strict=False)]
    assert len(col.frames) >= 20
    assert all(abs(g - 0.2) < 0.05 for g in gaps[:15]), gaps  # media time, not wall time, when not realtime
    assert col.frames[0].image.shape == (720, 1280, 3)
    assert reader.status().decode_mode == "all"


def test_keyframes_mode_decodes_only_keyframes(clip: Path) -> None:
    col, reader = read(str(clip), want=10, decode="keyframes", analyze_fps=5)
    assert all(f.keyframe for f in col.frames)
    gaps = [round(b.ts - a.ts, 2) for a, b in zip(col.frames, col.frames[1:], strict=False)]
    assert all(abs(g - 2.0) < 0.05 for g in gaps[:8]), gaps  # GOP 50 at 25 fps: one keyframe every 2 s
    # decoding skipped the 49 other frames of each GOP
    assert reader.status().frames_decoded <= len(col.frames) + 2


def test_auto_mode_picks_keyframes_when_gop_is_short_enough(clip: Path) -> None:
    _, reader = read(str(clip), want=8, decode="auto", analyze_fps=0.5)
    assert reader.status().decode_mode == "keyframes"
    _, reader = read(str(clip), want=8, decode="auto", analyze_fps=2)
    assert reader.status().decode_mode == "all"


def test_file_loops_without_going_offline(clip: Path) -> None:
    # 79.5 s of footage at one keyframe per 2 s gives 40 frames per pass: ask for more than one pass
    col, reader = read(str(clip), want=50, decode="keyframes", analyze_fps=1, timeout=60)
    assert len(col.frames) >= 50
    assert all(s.state is not CameraState.offline for s in col.statuses)
    ts = [f.ts for f in col.frames]
    assert ts == sorted(ts)  # media clock keeps running across the loop


def test_file_without_loop_stops_at_end(clip: Path) -> None:
    col, reader = read(str(clip), want=10_000, decode="keyframes", analyze_fps=1, loop=False)
    assert 38 <= len(col.frames) <= 42
    assert reader.status().state is CameraState.stopped and reader.status().error is None


def test_missing_file_is_a_clear_offline_status(tmp_path: Path) -> None:
    col, reader = read(str(tmp_path / "nope.mp4"), want=1, timeout=1.0)
    offline = [s for s in col.statuses if s.state is CameraState.offline]
    assert offline and offline[0].error == f"{tmp_path / 'nope.mp4'}: no such file"
    assert reader.status().reconnects >= 1


def test_garbage_file_is_invalid_data(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(b"\x00\x01garbage" * 5000)
    col, _ = read(str(bad), want=1, timeout=1.5)
    offline = [s for s in col.statuses if s.state is CameraState.offline]
    assert offline, col.statuses
    assert offline[0].error is not None and "invalid data" in offline[0].error


def test_connection_refused_message_masks_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_SECRET", "hunter2")
    col, _ = read("rtsp://admin:${CAM_SECRET}@127.0.0.1:9/stream", want=1, timeout=1.5)
    errors = [s.error for s in col.statuses if s.error]
    assert errors and "connection refused" in errors[0]
    assert errors[0].startswith("rtsp://admin:***@127.0.0.1:9/stream")
    assert not any("hunter2" in e for e in errors)


def test_mask_url() -> None:
    assert mask_url(
        "rtsp://admin:p@ss@10.0.0.1/x"
    ) == "rtsp://admin:***@10.0.0.1/x" or "p@ss" not in mask_url("rtsp://admin:p@ss@10.0.0.1/x")
    assert mask_url("rtsp://admin:secret@10.0.0.1:554/a?b=1") == "rtsp://admin:***@10.0.0.1:554/a?b=1"
    assert mask_url("rtsp://10.0.0.1/x") == "rtsp://10.0.0.1/x"
    assert mask_url("rtsp://admin@10.0.0.1/x") == "rtsp://admin@10.0.0.1/x"
    assert mask_url("/data/clip.mp4") == "/data/clip.mp4"


@pytest.mark.parametrize(
    ("url", "password", "masked"),
    [
        ("rtsp://admin:p@ss@10.0.0.1/x", "p@ss", "rtsp://admin:***@10.0.0.1/x"),
        ("rtsp://admin:p@ss@w@rd@10.0.0.1:554/x?a=@b", "p@ss@w@rd", "rtsp://admin:***@10.0.0.1:554/x?a=@b"),
        ("rtsp://admin:pa:ss@10.0.0.1/x", "pa:ss", "rtsp://admin:***@10.0.0.1/x"),
        ("rtsp://admin:@p:@@10.0.0.1", "@p:@", "rtsp://admin:***@10.0.0.1"),
        ("rtsp://admin:pa/ss@10.0.0.1/x", "pa/ss", "rtsp://admin:***@10.0.0.1/x"),
        ("rtsp://admin:${CAM_PW}@10.0.0.1/x", "${CAM_PW}", "rtsp://admin:***@10.0.0.1/x"),
        ("rtsp://admin:${CAM_PW}@${CAM_HOST}/x", "${CAM_PW}", "rtsp://admin:***@${CAM_HOST}/x"),
        ("rtsp://user@corp:s3cret@10.0.0.1/x", "s3cret", "rtsp://user@corp:***@10.0.0.1/x"),
        ("http://admin:secret@[fe80::1]:80/onvif", "secret", "http://admin:***@[fe80::1]:80/onvif"),
        ("rtsp://10.0.0.1:554/live@2", None, "rtsp://10.0.0.1:554/live@2"),
        ("rtsp://admin@10.0.0.1/x", None, "rtsp://admin@10.0.0.1/x"),
        ("rtsp://10.0.0.1/x", None, "rtsp://10.0.0.1/x"),
    ],
)
def test_mask_url_hides_the_whole_password(url: str, password: str | None, masked: str) -> None:
    out = mask_url(url)
    assert out == masked
    assert "10.0.0.1" in out or "${CAM_HOST}" in out or "fe80::1" in out
    if password is not None:
        assert password not in out


def test_reader_error_hides_a_password_with_at_signs() -> None:
    col, _ = read("rtsp://admin:p@ss@w0rd@127.0.0.1:9/stream", want=1, timeout=1.5)
    errors = [s.error for s in col.statuses if s.error]
    assert errors and errors[0].startswith("rtsp://admin:***@127.0.0.1:9/stream"), errors
    assert not any("p@ss" in e or "w0rd" in e or "ss@" in e for e in errors)


def test_backoff_grows_with_jitter_and_caps() -> None:
    b = Backoff(1.0, 60.0)
    delays = [b.next_delay() for _ in range(10)]
    assert 0.5 <= delays[0] <= 1.0
    assert 4.0 <= delays[3] <= 8.0
    assert all(30.0 <= d <= 60.0 for d in delays[7:])
    b.reset()
    assert b.next_delay() <= 1.0
    runs = {round(Backoff(1.0, 60.0).next_delay(), 6) for _ in range(20)}
    assert len(runs) > 1  # jitter: cameras failing together do not retry together


def test_realtime_file_is_paced(clip: Path) -> None:
    cam = CameraConfig.model_validate(
        {"id": "c1", "source": str(clip), "realtime": True, "decode": "all", "analyze_fps": 5}
    )
    col = Collector(6)
    reader = StreamReader(cam, col.frame, col.status)
    t0 = time.monotonic()
    reader.start()
    col.done.wait(10)
    elapsed = time.monotonic() - t0
    reader.stop()
    reader.join(5)
    assert len(col.frames) >= 6
    assert elapsed >= 0.9  # 6 frames at 5 fps span 1 s of media time: not delivered in a burst


def test_all_mode_decodes_only_up_to_the_sample_in_each_gop(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GOP 2 s, analysed at 1 fps: after the sample at 1 s the next is due at the next keyframe, so the rest
    of the GOP is not decoded. Same sample times and the same pictures as decoding everything, about half
    the frames decoded."""
    import numpy as np

    import sentinel.ingest.reader as reader_module

    n = 40  # the first two GOPs are decoded in full: the GOP is known from the third keyframe on
    col, reader = read(str(clip), want=n, decode="all", analyze_fps=1)
    with monkeypatch.context() as m:
        m.setattr(reader_module, "rest_of_gop_unneeded", lambda *a: False)
        full_col, full = read(str(clip), want=n, decode="all", analyze_fps=1)
    times = [round(f.ts - col.frames[0].ts, 3) for f in col.frames[:n]]
    assert times == [round(f.ts - full_col.frames[0].ts, 3) for f in full_col.frames[:n]]
    assert times == [float(k) for k in range(n)], times
    for a, b in zip(col.frames[:n], full_col.frames[:n], strict=True):
        assert np.array_equal(a.image, b.image)
    assert reader.status().frames_decoded < 0.65 * full.status().frames_decoded
    assert reader.status().decode_mode == "all"


@pytest.mark.parametrize(
    ("t_packet", "next_due", "gaps", "skip"),
    [
        (1.04, 2.0, [2.0, 2.0], True),  # the next sample is the next keyframe
        (0.04, 1.0, [2.0, 2.0], False),  # the sample at 1 s still needs this GOP
        (1.04, 2.0, [2.0, 3.0], False),  # irregular GOP: the next keyframe may come late
        (1.04, 2.0, [2.0], False),  # GOP not known yet
    ],
)
def test_rest_of_gop_is_skipped_only_when_no_sample_needs_it(
    t_packet: float, next_due: float, gaps: list[float], skip: bool
) -> None:
    from sentinel.ingest.reader import rest_of_gop_unneeded

    assert rest_of_gop_unneeded(t_packet, next_due, 0.0, gaps) is skip


def test_all_mode_samples_a_keyframe_just_after_the_due_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """GOP 2.08 s analysed at 1 fps: where the next keyframe comes at most a quarter interval after a due
    time it is sampled instead of decoding the GOP up to the due time. Every sample stays in its own
    analysis interval (exactly one per interval, at most 0.25 s late), fewer frames are decoded."""
    import sentinel.ingest.reader as reader_module

    clip = vtest_h264(640, 360, fps=25, gop=52)
    n = 40
    col, reader = read(str(clip), want=n, decode="all", analyze_fps=1)
    with monkeypatch.context() as m:
        m.setattr(reader_module, "KEYFRAME_SLACK", 0.0)
        exact_col, exact = read(str(clip), want=n, decode="all", analyze_fps=1)
    times = [f.ts - col.frames[0].ts for f in col.frames[:n]]
    assert [
        round(t - k, 3) for k, t in enumerate([f.ts - exact_col.frames[0].ts for f in exact_col.frames[:n]])
    ] == [0.0] * n  # without the slack: on the 1 s grid
    late = [t - k for k, t in enumerate(times)]
    assert all(-1e-3 <= d <= 0.25 + 1e-3 for d in late), late  # each in its interval, at most 0.25 s late
    on_key = [f for f, d in zip(col.frames[:n], late, strict=True) if d > 1e-3]
    assert len(on_key) >= 3 and all(f.keyframe for f in on_key)  # those are the keyframes
    assert reader.status().frames_decoded < exact.status().frames_decoded - 3 * 20  # ~25 frames each


def test_slack_lets_a_keyframe_just_after_the_due_time_stand_in() -> None:
    from sentinel.ingest.reader import rest_of_gop_unneeded

    gaps = [2.08, 2.08]  # the next keyframe at 2.08
    assert rest_of_gop_unneeded(1.04, 2.0, 0.0, gaps) is False  # no slack: decode up to 2.0
    assert rest_of_gop_unneeded(1.04, 2.0, 0.0, gaps, slack=0.25) is True  # 0.08 s late: sample the keyframe
    assert rest_of_gop_unneeded(1.04, 1.8, 0.0, gaps, slack=0.25) is False  # 0.28 s late: too late
    assert rest_of_gop_unneeded(1.04, 2.0, 0.0, [2.08, 2.6], slack=0.25) is False  # irregular GOP
