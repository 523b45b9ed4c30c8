"""Decode CPU per camera with and without the packet ring (the compressed pre-alert buffer for clips).

Runs Sentinel's own reader (`StreamReader`) with the worker's wiring — `on_packet=ring.offer`, and
`ring.note_frame` per delivered frame — or without any ring, alternating the two in the same process, and
measures the CPU time of the reader threads themselves (their POSIX thread CPU clocks), where both the decoding
and the ring's copying happen. Prints every run, the medians with and without, and their ratio.

Sources:
  --source file   720p H.264 footage (25 fps, GOP 50, from vtest.avi) read as fast as it goes: CPU seconds
                  per media second, i.e. the share of one core a live camera of this kind costs.
  --source rtsp   the real RTSP test server (GStreamer) serving N cameras live at 25 fps: CPU seconds per
                  wall second of each reader thread.

    .venv/bin/python bench/ring_buffer.py [--source file|rtsp] [--mode keyframes|all] [--runs 5]
                                          [--cameras 2] [--seconds 20] [--pre 10 --post 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentinel.config.models import CameraConfig  # noqa: E402
from sentinel.ingest.packet_ring import PacketRing  # noqa: E402
from sentinel.ingest.reader import Frame, ReaderStatus, StreamReader  # noqa: E402
from sentinel.pipeline.clips import ring_for  # noqa: E402
from tests.support.footage import vtest_h264  # noqa: E402


def thread_cpu(thread: threading.Thread) -> float:
    """CPU time of one thread of this process (its POSIX CPU-time clock, nanosecond resolution), seconds."""
    if thread.ident is None or not thread.is_alive():
        return 0.0
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


class Probe:
    """One camera's reader, optionally with a ring, with the counters the bench reads."""

    def __init__(self, source: str, mode: str, realtime: bool, ring: PacketRing | None) -> None:
        self.ring = ring
        self.delivered: list[float] = []
        self.packets = 0
        self.first = threading.Event()
        cam = CameraConfig.model_validate(
            {"id": "bench", "source": source, "decode": mode, "analyze_fps": 0.5, "realtime": realtime,
             "loop": True, "stall_timeout": 15, "open_timeout": 15, "read_timeout": 15}
        )  # fmt: skip
        on_packet = self._on_packet if ring is not None else None  # without: no hook at all, as in production
        self.reader = StreamReader(cam, self._on_frame, self._on_status, on_packet=on_packet)

    def _on_packet(self, packet: object) -> None:
        self.packets += 1
        assert self.ring is not None
        self.ring.offer(packet)  # type: ignore[arg-type]

    def _on_frame(self, frame: Frame) -> None:
        if self.ring is not None:
            self.ring.note_frame(frame.seq)
        self.delivered.append(frame.ts)
        self.first.set()

    def _on_status(self, _: ReaderStatus) -> None:
        pass


def one_run(
    sources: list[str], mode: str, realtime: bool, seconds: float, with_ring: bool, pre: float, post: float
) -> tuple[float, list[tuple[int, int, float]]]:
    """Mean CPU per camera (s per media s for files, s per wall s live) and each ring's (packets, bytes, s)."""
    probes = [Probe(s, mode, realtime, ring_for(pre, post) if with_ring else None) for s in sources]
    for p in probes:
        p.reader.start()
    for p in probes:
        if not p.first.wait(60):
            raise SystemExit(f"no frame from {p.reader.camera.source} in 60 s")
    time.sleep(2.0 if realtime else 0.0)  # live: past the connection's first GOP
    c0 = [thread_cpu(p.reader) for p in probes]
    m0 = [p.delivered[-1] for p in probes]
    w0 = time.monotonic()
    time.sleep(seconds)
    c1 = [thread_cpu(p.reader) for p in probes]
    m1 = [p.delivered[-1] for p in probes]
    wall = time.monotonic() - w0
    rings = [p.ring.stats() if p.ring is not None else (0, 0, 0.0) for p in probes]
    for p in probes:
        p.reader.stop()
    for p in probes:
        p.reader.join(10)
    per_camera = []
    for i in range(len(probes)):
        covered = wall if realtime else max(m1[i] - m0[i], 1e-3)
        per_camera.append((c1[i] - c0[i]) / covered)
    return statistics.mean(per_camera), rings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", choices=["file", "rtsp"], default="file")
    ap.add_argument("--mode", choices=["keyframes", "all"], default="keyframes")
    ap.add_argument("--runs", type=int, default=5, help="runs with and runs without, alternating")
    ap.add_argument("--cameras", type=int, default=2, help="rtsp: cameras read at once")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured time per run")
    ap.add_argument("--pre", type=float, default=10.0)
    ap.add_argument("--post", type=float, default=10.0)
    args = ap.parse_args()

    clip = vtest_h264(1280, 720, fps=25, gop=50)
    server = None
    if args.source == "rtsp":
        from tests.support.servers import RtspServer

        server = RtspServer({f"cam{i}": clip for i in range(args.cameras)})
        sources = [server.url(f"cam{i}") for i in range(args.cameras)]
        realtime = True
    else:
        sources = [str(clip)]
        realtime = False
    unit = "CPU s per wall s" if realtime else "CPU s per media s"
    print(f"{args.source}: {clip.name}, decode {args.mode}, {len(sources)} camera(s), ring for clip "
          f"{args.pre:g}+{args.post:g} s; {unit} per camera (reader thread)")  # fmt: skip
    results: dict[bool, list[float]] = {False: [], True: []}
    rings: list[tuple[int, int, float]] = []
    try:
        for run in range(args.runs):
            for with_ring in (False, True) if run % 2 == 0 else (True, False):
                cpu, held = one_run(
                    sources, args.mode, realtime, args.seconds, with_ring, args.pre, args.post
                )
                results[with_ring].append(cpu)
                if with_ring:
                    rings.extend(held)
                label = "with ring   " if with_ring else "without ring"
                print(f"  run {run + 1} {label}: {cpu * 100:6.2f} % of a core", flush=True)
    finally:
        if server is not None:
            server.close()
    off, on = statistics.median(results[False]), statistics.median(results[True])
    print(f"median without ring: {off * 100:.2f} % of a core per camera")
    print(f"median with ring:    {on * 100:.2f} % of a core per camera")
    print(f"ratio with/without:  {on / off:.3f}")
    if rings:
        packets, size, span = (statistics.median(r[i] for r in rings) for i in range(3))
        print(
            f"ring held (median at the end of a run): {packets:.0f} packets, {size / 1e6:.1f} MB, {span:.1f} s"
        )


if __name__ == "__main__":
    main()
