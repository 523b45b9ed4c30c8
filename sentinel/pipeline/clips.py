"""Clip evidence: `pre` seconds before the alert frame to `post` seconds after it, cut from the camera's packet
ring into an MP4 (`+faststart`, so a browser can start playing before it has the whole file).

Without privacy masks the packets are remuxed as they came from the camera: no decoding, no encoding, the
evidence bit for bit. A camera *with* privacy masks cannot be remuxed — the compressed picture still holds
the masked area — so its clips are decoded, masked frame by frame and re-encoded (libx264, one thread,
`veryfast`): more CPU, in the clip writer's background thread, never in the analysis loop.

A clip starts at the keyframe at or before `pre` seconds before the alert frame. A clip that comes out
shorter than asked (the camera had just connected, the ring's byte bound, a stream gap or reconnect, the
stream stopping) is written and marked `partial` with the reason; one that cannot be written at all (disk
full, unwritable directory, nothing buffered) is `failed` with the reason. Either way the alert says so.

Where a clip's file lives and what URL an alert gives it is the alert's business (`sentinel.alerts.clip`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from sentinel.detect.privacy import PrivacyMask
from sentinel.ingest.packet_ring import FrameMark, PacketRing, RingPacket, Segment
from sentinel.storage.private import open_private, private_dir

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 10.0  # no packet for this long after the alert: write what there is
RING_SLACK = 12.0  # the ring holds max(pre, post) + this: a long GOP and the analysis latency


ClipDestination = Callable[
    [str, float], Path
]  # (alert_id, the alert's detected_at) -> where to write its clip


def clips_enabled(pre: float, post: float) -> bool:
    return pre + post > 0


def ring_for(pre: float, post: float) -> PacketRing:
    return PacketRing(max_seconds=max(pre, post) + RING_SLACK)


@dataclass(frozen=True)
class ClipResult:
    alert_id: str
    path: Path | None  # None: no file
    sha256: str | None
    start: float | None  # the clip's first and last instant, in the alert frame's clock (epoch seconds)
    end: float | None
    state: str  # ready / partial / failed
    error: str | None
    reencoded: bool = False


@dataclass(eq=False)  # identity: a job is a hashable token (ring pins) and removed from lists by identity
class ClipJob:
    """One clip to write. Created at the alert (the `pre` part is taken from the ring at once), written
    once the ring holds `post` seconds past the alert frame, or the stream has a gap, stops or stalls."""

    alert_id: str
    ring: PacketRing
    mark: FrameMark | None
    frame_ts: float
    pre: float
    post: float
    dest: Path
    mask: PrivacyMask | None = None
    head: list[RingPacket] = field(default_factory=list)
    segment: Segment | None = None
    evicted: bool = False  # the ring dropped part of the `post` seconds before they were collected

    @classmethod
    def plan(
        cls,
        alert_id: str,
        ring: PacketRing,
        seq: int,
        frame_ts: float,
        pre: float,
        post: float,
        dest: Path,
        mask: PrivacyMask | None = None,
    ) -> ClipJob:
        mark = ring.mark_of(seq)
        job = cls(alert_id, ring, mark, frame_ts, pre, post, dest, mask if mask else None)
        if mark is not None:
            job.segment = ring.segment(mark.segment)
            job.head = ring.take_from(mark.segment, mark.t - pre)
            ring.pin(job, (job.head[-1].n if job.head else mark.n) + 1)  # the `post` part must stay
        return job

    def due(self) -> str | None:
        """None while more packets are to come; else why it is time to write ('' = all there)."""
        if self.mark is None:
            return self.nothing_buffered()
        newest = self.ring.newest()
        if newest is not None and newest.segment == self.mark.segment and newest.t >= self.mark.t + self.post:
            return ""
        if self.ring.current_segment != self.mark.segment:
            return "the stream had a gap or reconnected after the alert"
        if self.ring.closed:
            return "the stream stopped after the alert"
        idle = time.time() - self.ring.last_wall
        if idle > IDLE_TIMEOUT:
            return f"no video for {idle:.0f} s after the alert"
        return None

    def nothing_buffered(self) -> str:
        why = f" ({self.ring.error})" if self.ring.error else ""
        return f"no video was buffered for the alert frame{why}"

    def packets(self) -> list[RingPacket]:
        if self.mark is None:
            return []
        after = self.head[-1].n if self.head else self.mark.n
        until = self.mark.t + self.post
        tail = self.ring.take_after(self.mark.segment, after, until)
        self.ring.unpin(self)
        if tail and tail[0].n != after + 1:  # evicted in between (the byte bound): keep what is continuous
            self.evicted = True
            tail = []
        packets = self.head + tail
        # the reader may have been ahead of the analysis: cut at the first packet at or past `until`
        end = next((i for i, p in enumerate(packets) if p.t >= until), len(packets) - 1)
        return packets[: end + 1]


class ClipError(Exception):
    pass


def write_job(job: ClipJob, cause: str) -> ClipResult:
    """Write the job's clip; never raises."""
    packets = job.packets()
    if not packets or job.segment is None or job.mark is None:
        reason = cause or job.nothing_buffered()
        return ClipResult(job.alert_id, None, None, None, None, "failed", reason)
    seg, mark = job.segment, job.mark
    tb = float(seg.time_base)
    first, last = packets[0], packets[-1]
    frame_step = 1.0 / seg.rate
    t_end = last.t + (last.duration * tb if last.duration else frame_step)
    start = job.frame_ts - (mark.t - first.t)
    end = job.frame_ts + (t_end - mark.t)
    try:
        sha = _write(packets, seg, job.dest, job.mask)
    except Exception as exc:  # disk full, unwritable directory, a codec problem: say so on the alert
        reason = str(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        log.error("clip %s: cannot write it: %s", job.alert_id, reason)
        return ClipResult(job.alert_id, None, None, start, end, "failed", f"cannot write the clip: {reason}")
    problems = []
    short_before = first.t - (mark.t - job.pre)
    if short_before > frame_step + 0.05:
        had = max(0.0, mark.t - first.t)
        problems.append(f"only {had:.1f} s before the alert were buffered (asked {job.pre:g} s)")
    short_after = (mark.t + job.post) - t_end
    if short_after > frame_step + 0.05:
        had = max(0.0, t_end - mark.t)
        why = "the ring's byte bound dropped them" if job.evicted else (cause or "stream ended")
        problems.append(f"only {had:.1f} s after the alert (asked {job.post:g} s): {why}")
    state = "partial" if problems else "ready"
    return ClipResult(
        job.alert_id, job.dest, sha, start, end, state, "; ".join(problems) or None, job.mask is not None
    )


def _write(packets: list[RingPacket], seg: Segment, dest: Path, mask: PrivacyMask | None) -> str:
    private_dir(dest.parent)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        with open_private(tmp):
            pass  # made 0600 here: FFmpeg would make it 0666 less the umask (it keeps an existing file's mode)
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            if mask:
                _reencode(out, packets, seg, mask)
            else:
                _remux(out, packets, seg)
        digest = hashlib.sha256()
        with open(tmp, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        return digest.hexdigest()
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _timestamps(packets: list[RingPacket]) -> list[tuple[int, int]]:
    """(pts, dts) from 0 at the first packet, dts strictly increasing as MP4 wants."""
    base = min(p.dts if p.dts is not None else p.pts for p in packets[:8])
    out: list[tuple[int, int]] = []
    last_dts: int | None = None
    for p in packets:
        dts = (p.dts if p.dts is not None else p.pts) - base
        if last_dts is not None and dts <= last_dts:
            dts = last_dts + 1
        pts = max(p.pts - base, dts)
        out.append((pts, dts))
        last_dts = dts
    return out


def _remux(out: Any, packets: list[RingPacket], seg: Segment) -> None:
    stream = out.add_stream_from_template(seg.template)
    for p, (pts, dts) in zip(packets, _timestamps(packets), strict=True):
        pkt = av.Packet(p.data)
        pkt.pts, pkt.dts, pkt.time_base = pts, dts, seg.time_base
        if p.duration:
            pkt.duration = p.duration
        pkt.is_keyframe = p.keyframe
        pkt.stream = stream
        out.mux(pkt)


def _reencode(out: Any, packets: list[RingPacket], seg: Segment, mask: PrivacyMask) -> None:
    decoder: Any = av.CodecContext.create(seg.codec, "r")
    decoder.extradata = seg.template.codec_context.extradata
    decoder.thread_count = 1
    stream = out.add_stream("libx264", rate=Fraction(seg.rate).limit_denominator(1001))
    stream.pix_fmt = "yuv420p"
    stream.codec_context.thread_count = 1
    stream.options = {"preset": "veryfast", "crf": "23"}
    frames = 0

    def emit(frame: av.VideoFrame) -> None:
        nonlocal frames
        if frames == 0:
            stream.width, stream.height = frame.width, frame.height
        masked = _masked(frame, mask)
        masked.pts, masked.time_base = frame.pts, seg.time_base
        for packet in stream.encode(masked):
            out.mux(packet)
        frames += 1

    for p, (pts, dts) in zip(packets, _timestamps(packets), strict=True):
        pkt = av.Packet(p.data)
        pkt.pts, pkt.dts, pkt.time_base = pts, dts, seg.time_base
        pkt.is_keyframe = p.keyframe
        for frame in decoder.decode(pkt):
            emit(frame)
    for frame in decoder.decode(None):
        emit(frame)
    if frames == 0:
        raise ClipError("no frame could be decoded from the buffered packets")
    for packet in stream.encode(None):
        out.mux(packet)


def _masked(frame: av.VideoFrame, mask: PrivacyMask) -> av.VideoFrame:
    """A new yuv420p frame with the mask painted black (the decoder's own frame may be a reference)."""
    src = frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")
    w, h = src.width, src.height
    new = av.VideoFrame(w, h, "yuv420p")
    planes = []
    for i, (pw, ph) in enumerate(((w, h), ((w + 1) // 2, (h + 1) // 2), ((w + 1) // 2, (h + 1) // 2))):
        sp, dp = src.planes[i], new.planes[i]
        s_arr = np.frombuffer(memoryview(sp), np.uint8).reshape(-1, sp.line_size)[:ph, :pw]
        d_arr = np.frombuffer(memoryview(dp), np.uint8).reshape(-1, dp.line_size)[:ph, :pw]
        d_arr[:] = s_arr
        planes.append(d_arr)
    mask.apply_yuv420(planes[0], planes[1], planes[2], full_range=frame.format.name.startswith("yuvj"))
    return new


class ClipWriter(threading.Thread):
    """One background thread per analysis worker (and per replay): waits for each job's `post` seconds,
    writes it, reports it with `on_done`. Analysis never waits for it."""

    def __init__(self, on_done: Callable[[ClipResult], None], name: str = "clip-writer") -> None:
        super().__init__(name=name, daemon=True)
        self._on_done = on_done
        self._jobs: list[ClipJob] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._drain = False
        self.written = 0

    def submit(self, job: ClipJob) -> None:
        with self._lock:
            self._jobs.append(job)
        self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._jobs)

    def run(self) -> None:
        while not self._halt.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            self._write_due(force=self._drain)
            if self._drain and not self.pending():
                return

    def _write_due(self, force: bool) -> None:
        while True:
            with self._lock:
                due = [(job, cause) for job in self._jobs if (cause := job.due()) is not None]
                if force and not due:
                    due = [
                        (job, job.due() or "the stream ended before the clip was complete")
                        for job in self._jobs
                    ]
                if not due:
                    return
                job, cause = due[0]
                self._jobs.remove(job)
            try:
                result = write_job(job, cause)
            except Exception as exc:  # never expected; the writer thread must survive it all the same
                log.exception("clip %s: writing failed", job.alert_id)
                result = ClipResult(
                    job.alert_id, None, None, None, None, "failed", f"{type(exc).__name__}: {exc}"
                )
            self.written += 1
            try:
                self._on_done(result)
            except Exception:
                log.exception("clip %s: reporting failed", job.alert_id)
            if self._halt.is_set():
                return

    def finish(self, timeout: float | None = None) -> None:
        """Write every remaining job with what is buffered now, then end (replay's end of file)."""
        self._drain = True
        self._wake.set()
        self.join(timeout)

    def stop(self, timeout: float = 2.0) -> None:
        """Abandon jobs not yet due (the supervisor marks their alerts' clips failed); a write under way
        gets `timeout` to finish."""
        self._halt.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)
