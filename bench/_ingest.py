"""`bench/analysis_path.py --only ingest`: the reader's CPU per camera-second, stage by stage, before and
after issue 19's per-packet work, in the same process, alternating, medians of several runs.

A file (720p vtest H.264, 25 fps, GOP 2 s) is read as fast as it demuxes, in this thread, timed with
`time.thread_time()`; CPU per camera-second = CPU / media seconds read. Stages:

  demux only          `for packet in container.demux(stream)`: PyAV/FFmpeg, nothing of ours
  + reader loop       StreamReader's per-packet loop (keyframes mode), decode left out, no ring
  + clip ring         the same with the packet ring (every packet copied)
  + keyframe decode   the whole reader: what a keyframes camera with clips costs

"before" is the code as it was (bench/_ingest_before.py), "after" the code now. `rtsp_check` runs the whole
reader (before and after) and demux-only loops (PyAV's read timeout against FFmpeg's socket timeout)
concurrently on the GStreamer test server in real time, next to a Python thread holding the GIL.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from bench._ingest_before import PacketRingBefore, ReaderBefore
from sentinel.config.models import CameraConfig
from sentinel.ingest.packet_ring import PacketRing
from sentinel.ingest.reader import StreamReader
from tests.support.footage import vtest_h264

STAGES = ("demux only", "+ reader loop", "+ clip ring", "+ keyframe decode")


def media_seconds(clip: Path) -> float:
    with av.open(str(clip)) as c:
        return float(c.duration or 0) / 1e6


def demux_only(
    source: str,
    options: dict[str, str] | None = None,
    timeout: Any = (10, 10),
    stop: threading.Event | None = None,
) -> None:
    with av.open(source, options=options or {}, timeout=timeout) as c:
        for packet in c.demux(c.streams.video[0]):
            if packet.size == 0:
                continue
            if stop is not None and stop.is_set():
                return


def run_reader(clip: Path, version: str, ring: bool, decode: bool) -> None:
    """One pass of the file through the reader, in this thread."""
    cam = CameraConfig.model_validate(
        {
            "id": "i",
            "source": str(clip),
            "decode": "keyframes",
            "analyze_fps": 0.5,
            "loop": False,
            "realtime": False,
        }
    )
    cls: type[StreamReader] = ReaderBefore if version == "before" else StreamReader
    ring_obj: Any = (
        (PacketRingBefore if version == "before" else PacketRing)(max_seconds=22.0) if ring else None
    )
    reader = cls(cam, lambda f: None, lambda s: None, on_packet=ring_obj.offer if ring_obj else None)
    if not decode:
        reader._decode = lambda packet: []  # type: ignore[method-assign]
    reader._read_once()


def cpu_of(fn: Callable[[], object]) -> float:
    t0 = time.thread_time()
    fn()
    return time.thread_time() - t0


def bench_ingest(rounds: int, rtsp_seconds: float) -> None:
    clip = vtest_h264(1280, 720, fps=25, gop=50)
    media = media_seconds(clip)
    print("\n== ingest: reader CPU per camera-second, 720p H.264 25 fps GOP 2 s, keyframes at 0.5 fps ==")
    print(
        f"  (a {media:.0f} s file read as fast as it demuxes, thread CPU; median of {rounds} alternating runs)"
    )
    cases: dict[tuple[str, str], Callable[[], object]] = {}
    for version in ("before", "after"):
        cases[(version, STAGES[0])] = lambda: demux_only(str(clip))
        cases[(version, STAGES[1])] = lambda v=version: run_reader(clip, v, ring=False, decode=False)
        cases[(version, STAGES[2])] = lambda v=version: run_reader(clip, v, ring=True, decode=False)
        cases[(version, STAGES[3])] = lambda v=version: run_reader(clip, v, ring=True, decode=True)
    for fn in cases.values():  # warm up
        fn()
    cpu: dict[tuple[str, str], list[float]] = {k: [] for k in cases}
    keys = list(cases)
    for rnd in range(rounds):
        for key in keys if rnd % 2 == 0 else keys[::-1]:
            cpu[key].append(cpu_of(cases[key]))
    ms = {k: statistics.median(v) / media * 1000.0 for k, v in cpu.items()}  # ms CPU per camera-second
    print(f"  {'stage (cumulative)':22s} {'before':>9s} {'after':>9s}   ms CPU per camera-second")
    for stage in STAGES:
        print(f"  {stage:22s} {ms[('before', stage)]:9.3f} {ms[('after', stage)]:9.3f}")
    for version in ("before", "after"):
        per_packet = ms[(version, STAGES[2])] - ms[(version, STAGES[0])]
        print(f"  {version}: our per-packet work (loop + ring) {per_packet:.3f} ms per camera-second")
    b = ms[("before", STAGES[2])] - ms[("before", STAGES[0])]
    a = ms[("after", STAGES[2])] - ms[("after", STAGES[0])]
    print(f"  per-packet work after / before: {a / b:.2f}")
    if rtsp_seconds > 0:
        rtsp_check(clip, rtsp_seconds, max(1, rounds // 2))


def spin(stop: threading.Event) -> None:
    """A Python thread that holds the GIL between short breaks, as a worker's analysis loop does."""
    x = 0
    while not stop.is_set():
        for i in range(20000):
            x += i


RTSP_CASES = ("demux, PyAV read timeout", "demux, FFmpeg socket timeout", "reader before", "reader after")


def rtsp_check(clip: Path, seconds: float, rounds: int) -> None:
    """Demux-only loops (PyAV's read timeout, whose interrupt callback takes the GIL on every socket read,
    against FFmpeg's own socket timeout) and the whole reader before and after, concurrently on the
    GStreamer RTSP test server in real time, next to a Python thread holding the GIL; each on its own
    mount, the mounts rotating between rounds."""
    from tests.support.servers import RtspServer

    print(
        f"\n  RTSP (GStreamer test server, TCP, real time, {seconds:g} s x {rounds} rounds, thread CPU, "
        "a GIL-holding Python thread alongside):"
    )
    server = RtspServer({f"m{i}": clip for i in range(len(RTSP_CASES))})
    tcp = {"rtsp_transport": "tcp", "rtsp_flags": "prefer_tcp"}
    demux_args: dict[str, tuple[dict[str, str], Any]] = {
        RTSP_CASES[0]: (tcp, (10, 10)),
        RTSP_CASES[1]: ({**tcp, "timeout": "10000000"}, (10, None)),
    }
    got: dict[str, list[float]] = {n: [] for n in RTSP_CASES}
    try:
        for rnd in range(rounds):
            stop = threading.Event()
            readers: list[StreamReader] = []

            def work(name: str, url: str, stop: threading.Event = stop, readers: list[Any] = readers) -> None:
                t0, w0 = time.thread_time(), time.monotonic()
                if name in demux_args:
                    demux_only(url, *demux_args[name], stop=stop)
                else:
                    cam = CameraConfig.model_validate(
                        {
                            "id": name.replace(" ", "-"),
                            "source": url,
                            "decode": "keyframes",
                            "analyze_fps": 0.5,
                        }
                    )
                    cls = ReaderBefore if name == "reader before" else StreamReader
                    ring: Any = (PacketRingBefore if cls is ReaderBefore else PacketRing)(max_seconds=22.0)
                    reader = cls(cam, lambda f: None, lambda s: None, on_packet=ring.offer)
                    readers.append(reader)
                    reader.run()  # in this thread, so that thread_time is the reader's
                got[name].append((time.thread_time() - t0) / (time.monotonic() - w0) * 1000.0)

            threads = [
                threading.Thread(target=work, args=(n, server.url(f"m{(i + rnd) % len(RTSP_CASES)}")))
                for i, n in enumerate(RTSP_CASES)
            ]
            threads.append(threading.Thread(target=spin, args=(stop,)))
            for t in threads:
                t.start()
            time.sleep(seconds)
            stop.set()
            for r in readers:
                r.stop()
            for t in threads:
                t.join(15)
    finally:
        server.close()
    for n in RTSP_CASES:
        runs = ", ".join(f"{x:.2f}" for x in got[n])
        print(f"    {n:30s} {statistics.median(got[n]):6.2f} ms CPU per camera-second (runs: {runs})")
