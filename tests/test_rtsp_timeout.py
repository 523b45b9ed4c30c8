"""RTSP reads are bounded by FFmpeg's own socket timeout (not PyAV's interrupt callback, which takes the GIL
on every socket read): a server that stops sending still becomes a clear offline status, then a reconnect."""

from __future__ import annotations

import time

from sentinel.config.models import CameraConfig
from sentinel.ingest.backoff import Backoff
from sentinel.ingest.reader import CameraState, ReaderStatus, StreamReader
from sentinel.ingest.sources import RtspSource
from tests.support.footage import vtest_h264
from tests.support.servers import RtspServer


def test_rtsp_read_timeout_is_ffmpegs_and_a_stalled_server_goes_offline_clearly() -> None:
    cam = CameraConfig(id="s", source="rtsp://h/x", read_timeout=2, stall_timeout=3, open_timeout=5)
    spec = RtspSource(cam.source).prepare(cam)
    assert spec.timeout == (5, None) and spec.options["timeout"] == "2000000"

    statuses: list[ReaderStatus] = []
    frames: list[float] = []
    with RtspServer({"s": vtest_h264(768, 576, fps=10, gop=10)}) as server:
        cam = cam.model_copy(update={"source": server.url("s"), "decode": "keyframes"})
        reader = StreamReader(cam, lambda f: frames.append(f.ts), statuses.append, backoff=Backoff(0.2, 0.5))
        reader.start()
        try:
            deadline = time.monotonic() + 20
            while len(frames) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert frames, "no frame from the RTSP server"
            server.pause()
            t0 = time.monotonic()
            while not any(s.state is CameraState.offline for s in statuses) and time.monotonic() < t0 + 15:
                time.sleep(0.1)
            waited = time.monotonic() - t0
            server.resume()
        finally:
            reader.stop()
            reader.join(10)
    offline = [s for s in statuses if s.state is CameraState.offline]
    assert offline, [s.state for s in statuses]
    assert "no answer in time" in (offline[0].error or ""), offline[0].error
    assert waited < 10  # bounded by the 2 s read timeout (FFmpeg's), not left hanging
