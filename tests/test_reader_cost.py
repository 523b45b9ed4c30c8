"""Each camera's status says which decode path it is on and what it costs (share of packets decoded, frames
decoded per second, the reader thread's CPU per second), from the reader to the camera board's message and
the console's camera list. Real footage, real readers, played in real time for a few seconds."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

from sentinel.config.models import CameraConfig
from sentinel.console.routes_site import camera_out
from sentinel.daemon.camera_board import CameraBoard
from sentinel.ingest.reader import ReaderStatus, StreamReader
from tests.support.footage import vtest_h264


def test_keyframes_and_all_cameras_report_their_decode_path_and_cost() -> None:
    clip = vtest_h264(1280, 720, fps=25, gop=50)  # a keyframe every 2 s
    cams = {
        "k": CameraConfig(id="k", source=str(clip), decode="keyframes", analyze_fps=0.5),
        "a": CameraConfig(id="a", source=str(clip), decode="all", analyze_fps=1.0),
    }  # realtime (paced) files: the reader meters its CPU every 2 s of wall time
    readers = {k: StreamReader(c, lambda f: None, lambda s: None) for k, c in cams.items()}
    for r in readers.values():
        r.start()
    time.sleep(4.6)
    status: dict[str, ReaderStatus] = {k: r.status() for k, r in readers.items()}
    for r in readers.values():
        r.stop()
        r.join(10)
    k, a = status["k"], status["a"]
    assert (k.decode_mode, a.decode_mode) == ("keyframes", "all")
    assert k.packets > 80 and a.packets > 80  # ~25 a second each
    assert k.decoded_share is not None and a.decoded_share is not None
    assert 0 < k.decoded_share < 0.1  # one packet in 50
    assert 0.3 < a.decoded_share <= 1.0 and a.decoded_share > 5 * k.decoded_share
    assert 0 < k.decode_fps < 2 and a.decode_fps > 5  # keyframes: 0.5 a second; all: up to each sample
    assert 0 < k.reader_cpu < a.reader_cpu < 1.0

    board = CameraBoard(ZoneInfo("Asia/Shanghai"), status_interval=60.0)
    for cam in cams.values():
        board.add(cam, worker=0)
        board.on_status(status[cam.id])
    listed = {c.camera_id: c for c in (camera_out(raw) for raw in board.statuses())}
    assert listed["k"].decode_mode == "keyframes" and listed["k"].decoded_share == k.decoded_share
    assert listed["a"].decode_fps == a.decode_fps and listed["a"].reader_cpu == a.reader_cpu
