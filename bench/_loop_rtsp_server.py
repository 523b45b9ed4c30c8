#!/usr/bin/python3
"""The RTSP cameras of `bench/cameras.py`: one GstRtspServer process serving every mount from H.264 footage
held in memory and looped at native pace by one pacing thread -- no feeder process per camera.

Run it with Debian's ``/usr/bin/python3`` (it needs ``gi``; the project venv lacks it)::

    _loop_rtsp_server.py --port 0 --mounts mounts.json --status status.json

``mounts.json``: ``{"mounts": [{"path": "/cam01", "file": "x.mp4", "start": 12.0, "delay": 0.04}, ...]}``.
Each file is demuxed once at start-up (``parsebin ! h264parse``; the payloader sends SPS/PPS before every keyframe)
into access units in memory, shared by the mounts that play it. A mount plays its file from the keyframe
at or before ``start`` seconds, looped, its frame clock ``delay`` seconds behind the server's start (so
the cameras' keyframes do not all fall in the same instant). The clock runs whether or not anyone watches,
like a live camera: a client joins wherever the camera is (and waits for its next keyframe).

Why not one ``ffmpeg -re -c copy`` feeder per mount over UDP (what ``tests/support/servers.py`` does):
at 100 cameras, with a client on each, those 100 processes and the server's MPEG-TS demux per mount took
0.90 cores and 1.27 GB PSS on the 2-core bench machine; this server 0.39 cores and 94 MB (measured in one
run, alternating, the machine shared). A frame costs one buffer wrapping the footage in memory and a push
into ``rtph264pay``.

Prints ``READY <port>`` when listening. Every second it rewrites ``--status`` (JSON): frames pushed, frames
skipped because the pacer fell more than a second behind (the machine could not keep up), frames pushed
more than 0.1 s late, and how many mounts have a client. Exits when stdin closes, on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtspServer  # noqa: E402, F401  (GstApp: appsrc's push_buffer)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from rtsp_server import _on_element_added  # noqa: E402  (sinks never sync: the pacer paces)

LAUNCH = (
    "( appsrc name=src is-live=true format=time max-bytes=0 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)
TICK = 0.005  # the pacer sleeps at least this long: a frame's jitter (a real camera's network adds more)
LATE = 0.1  # a frame pushed this much after its time counts as late
SKIP_AFTER = 1.0  # behind by more than this: jump to the current frame (a live camera drops, never bursts)


def log(message: str) -> None:
    print(f"loop_rtsp_server: {message}", file=sys.stderr, flush=True)


@dataclass
class Clip:
    """A file's access units in decode order, with what a buffer needs."""

    caps: Gst.Caps
    units: list[GLib.Bytes]  # wrapped by each buffer, never copied
    key: list[bool]
    reorder_ns: list[int]  # pts - dts (0 without B-frames), shifted so that pts >= dts
    frame_ns: int

    @property
    def keyframes(self) -> list[int]:
        return [i for i, k in enumerate(self.key) if k]


def load_clip(path: str) -> Clip:
    pipe = Gst.parse_launch(
        # AVC (length-prefixed) units: the caps then carry codec_data, so the SDP has sprop-parameter-sets
        # from the first DESCRIBE on, like a camera's; rtph264pay puts SPS/PPS before every keyframe
        f'filesrc location="{path}" ! parsebin ! h264parse '
        "! video/x-h264,stream-format=avc,alignment=au ! appsink name=sink sync=false"
    )
    sink = pipe.get_by_name("sink")
    pipe.set_state(Gst.State.PLAYING)
    units: list[GLib.Bytes] = []
    key: list[bool] = []
    stamps: list[tuple[int, int]] = []
    caps = None
    try:
        while (sample := sink.pull_sample()) is not None:
            buf = sample.get_buffer()
            caps = caps or sample.get_caps()
            units.append(GLib.Bytes.new(buf.extract_dup(0, buf.get_size())))
            key.append(not buf.has_flags(Gst.BufferFlags.DELTA_UNIT))
            pts = buf.pts if buf.pts != Gst.CLOCK_TIME_NONE else buf.dts
            dts = buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else pts
            stamps.append((pts, dts))
    finally:
        pipe.set_state(Gst.State.NULL)
    if len(units) < 2 or caps is None or not any(key):
        raise RuntimeError(f"{path}: no H.264 video with a keyframe in it")
    first = next(i for i, k in enumerate(key) if k)  # start on a keyframe: loops then decode cleanly
    units, key, stamps = units[first:], key[first:], stamps[first:]
    span = stamps[-1][1] - stamps[0][1]
    frame_ns = max(1, span // (len(units) - 1))
    shift = max(0, max(d - p for p, d in stamps))
    return Clip(caps, units, key, [p - d + shift for p, d in stamps], frame_ns)


@dataclass
class Mount:
    path: str
    clip: Clip
    start: int  # index of the unit played at frame number 0
    t0: float  # monotonic time of frame number 0
    src: Gst.Element | None = None  # the appsrc while a client watches
    next_k: int = 0  # next frame number to push
    k0: int = 0  # frame number at the media's start: its timestamps count from there
    lock: threading.Lock = field(default_factory=threading.Lock)

    def frame_number(self, now: float) -> int:
        return int((now - self.t0) * 1e9 // self.clip.frame_ns)

    def attach(self, src: Gst.Element) -> None:
        src.set_property("caps", self.clip.caps)
        with self.lock:
            self.src = src
            self.next_k = self.k0 = max(0, self.frame_number(time.monotonic()))

    def detach(self, src: Gst.Element) -> None:
        with self.lock:
            if self.src is src:  # not a newer media's
                self.src = None


@dataclass
class Counters:
    pushed: int = 0
    skipped: int = 0
    late: int = 0


def push_due(m: Mount, now: float, c: Counters) -> None:
    with m.lock:
        src = m.src
        if src is None:
            return
        due = m.frame_number(now)
        if due - m.next_k > SKIP_AFTER * 1e9 / m.clip.frame_ns:
            c.skipped += due - m.next_k
            m.next_k = due
        clip, n = m.clip, len(m.clip.units)
        while m.next_k <= due:
            k = m.next_k
            i = (m.start + k) % n
            buf = Gst.Buffer.new_wrapped_bytes(clip.units[i])
            buf.dts = (k - m.k0) * clip.frame_ns
            buf.pts = buf.dts + clip.reorder_ns[i]
            buf.duration = clip.frame_ns
            if not clip.key[i]:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            if k == m.k0:
                buf.set_flags(Gst.BufferFlags.DISCONT)
            src.push_buffer(buf)  # FLUSHING while a media shuts down: harmless
            c.pushed += 1
            if now - (m.t0 + k * clip.frame_ns / 1e9) > LATE:
                c.late += 1
            m.next_k += 1


def pacer(mounts: list[Mount], status: Path, stop: threading.Event) -> None:
    """Push every mount's frames when they are due: a heap of next due times, woken at most every TICK
    (each wake pushes whatever fell due since; a mount without a client is looked at every 0.1 s)."""
    c = Counters()
    heap = [(m.t0, k, m) for k, m in enumerate(mounts)]
    heapq.heapify(heap)
    next_status = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, k, m = heapq.heappop(heap)
            push_due(m, now, c)
            due = m.t0 + m.next_k * m.clip.frame_ns / 1e9 if m.src is not None else now + 0.1
            heapq.heappush(heap, (due, k, m))
        if now >= next_status:
            doc = {"t": time.time(), "mounts": len(mounts), "watched": sum(m.src is not None for m in mounts),
                   "pushed": c.pushed, "skipped": c.skipped, "late": c.late}  # fmt: skip
            tmp = status.with_name(status.name + ".tmp")
            tmp.write_text(json.dumps(doc))
            os.replace(tmp, status)
            next_status += 1.0
        wake = min(heap[0][0], next_status)
        stop.wait(max(TICK, wake - time.monotonic()))


class LoopFactory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, mount: Mount) -> None:
        super().__init__()
        self.mount = mount
        self.set_launch(LAUNCH)
        self.set_shared(True)
        self.connect("media-configure", self._on_media_configure)

    def _on_media_configure(self, _factory: object, media: GstRtspServer.RTSPMedia) -> None:
        pipeline = media.get_element().get_parent()
        pipeline.connect("deep-element-added", _on_element_added)
        src = media.get_element().get_by_name("src")
        self.mount.attach(src)
        media.connect("unprepared", lambda _m: self.mount.detach(src))


def start_point(clip: Clip, seconds: float) -> int:
    """The keyframe at or before `seconds` into the clip (wrapped round)."""
    keys = clip.keyframes
    want = int(seconds * 1e9 // clip.frame_ns) % len(clip.units)
    return keys[max(0, bisect.bisect_right(keys, want) - 1)]


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0 = any free)")
    ap.add_argument("--mounts", type=Path, required=True, help="JSON: the mounts and their files")
    ap.add_argument("--status", type=Path, required=True, help="JSON rewritten every second")
    args = ap.parse_args()

    Gst.init(None)
    spec = json.loads(args.mounts.read_text())["mounts"]
    clips: dict[str, Clip] = {}
    t0 = time.monotonic()
    mounts = []
    for s in spec:
        if s["file"] not in clips:
            clips[s["file"]] = load_clip(s["file"])
        clip = clips[s["file"]]
        mounts.append(Mount(s["path"], clip, start_point(clip, float(s["start"])), t0 + float(s["delay"])))
    log(f"{len(mounts)} mounts from {len(clips)} file(s), loaded in {time.monotonic() - t0:.1f} s")

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    # the listen backlog (default 5): 100 cameras connecting at once overflowed it, and the SYNs the
    # kernel dropped were retried after 1, 3, 7, 15 s: PLAY up to 14 s late
    server.set_backlog(len(mounts) + 16)
    # a thread per client: a DESCRIBE waits for its mount's next keyframe (up to a GOP)
    server.get_thread_pool().set_max_threads(2 * len(mounts) + 4)
    points = server.get_mount_points()
    for m in mounts:
        points.add_factory(m.path, LoopFactory(m))
    try:
        server.create_source(None).attach(None)
    except GLib.Error as exc:
        log(f"cannot listen on 127.0.0.1:{args.port}: {exc.message}")
        return 2

    now = time.monotonic()  # the clocks start now, not before the files were loaded
    for m, s in zip(mounts, spec, strict=True):
        m.t0 = now + float(s["delay"])
    stop = threading.Event()
    threading.Thread(target=pacer, args=(mounts, args.status, stop), name="pacer", daemon=True).start()

    loop = GLib.MainLoop()

    def quit_loop(*_: object) -> bool:
        loop.quit()
        return GLib.SOURCE_REMOVE

    def on_stdin(fd: int, condition: GLib.IOCondition) -> bool:
        if condition & (GLib.IOCondition.HUP | GLib.IOCondition.ERR | GLib.IOCondition.NVAL):
            return quit_loop()
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        return quit_loop() if not data else GLib.SOURCE_CONTINUE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, quit_loop)
    cond = GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR
    GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, sys.stdin.fileno(), cond, on_stdin)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
