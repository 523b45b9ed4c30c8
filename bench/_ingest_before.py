"""The ingest path as it was before issue 19's per-packet work (commit 4fef963), kept only so that
`bench/analysis_path.py --only ingest` can run it against the current code in the same process:
`PacketRingBefore` (a RingPacket dataclass per packet, the eviction test on every packet) and
`ReaderBefore` (the per-packet loop with a `Fraction` multiplication per packet). Not used by Sentinel."""

# ruff: noqa
# mypy: ignore-errors

from __future__ import annotations

import io
import logging
import threading
import time
from collections import deque
from typing import Any

import av

from sentinel.ingest.errors import StreamStalled
from sentinel.ingest.packet_ring import GAP_SECONDS, FrameMark, RingPacket, Segment
from sentinel.ingest.errors import StreamEnded
from sentinel.ingest.reader import CameraState, StreamReader, rest_of_gop_unneeded
from sentinel.ingest.source import SourceError
from sentinel.ingest.sources import RtspSource, open_spec, source_for

log = logging.getLogger(__name__)


class PacketRingBefore:
    def __init__(self, max_seconds: float = 30.0, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._packets: deque[RingPacket] = deque()
        self._keys: deque[RingPacket] = deque()  # the keyframes among them
        self._bytes = 0
        self._n = 0
        self._segments: dict[int, Segment] = {}
        self._segment: Segment | None = None
        self._stream: Any = None  # the input stream of the current segment (identity only)
        self._tb = 0.0
        self._last_t: float | None = None
        self._last_pts: int | None = None
        self._last_dts: int | None = None
        self._waiting_key = True
        self._held: tuple[bytes, int] | None = None  # a keyframe without timestamps, until the next packet
        self._ct = 0.0
        self._ct_offset: float | None = None
        self._marks: deque[FrameMark] = deque(maxlen=512)
        self._pins: dict[object, int] = {}  # clip jobs waiting for packets from position n on
        self.last_wall = time.time()
        self.closed = False
        self.dropped_bytes = 0  # evicted for the byte bound before the time bound
        self._failed = False
        self._unsupported: Any = None  # a stream whose codec cannot go into MP4
        self.error: str | None = None  # the last reason a packet could not be buffered

    # ---------------------------------------------------------------- writer side (reader thread)

    def offer(self, packet: av.Packet) -> None:
        """The reader's `on_packet` hook; copies the packet into the ring. Never raises."""
        try:
            self._offer(packet)
        except ValueError as exc:  # a codec MP4 cannot carry (e.g. msmpeg4 in old AVI files): no clips
            self.error = f"{type(exc).__name__}: {exc}"
            if not self._failed:
                self._failed = True
                log.warning("packet ring: %s; alerts from this camera will have no clip", exc)
        except Exception as exc:  # keep the stream alive; clips will say what is missing
            self.error = f"{type(exc).__name__}: {exc}"
            if not self._failed:
                self._failed = True
                log.exception("packet ring: cannot buffer a packet (further errors are not logged)")

    def _offer(self, packet: av.Packet) -> None:
        stream = packet.stream
        if stream is not self._stream:
            if stream is self._unsupported:
                return
            self._new_segment(stream)
        pts, dts = packet.pts, packet.dts
        duration = int(packet.duration or 0)
        if pts is None and self._last_pts is not None:
            pts = self._last_pts + max(duration, 1)
        if dts is None and self._last_dts is not None:
            dts = self._last_dts + max(duration, 1)
        if pts is None:  # the first packet of a connection often has none (RTSP): date it by the next one
            if packet.is_keyframe:
                self._held = (bytes(packet), duration)
            return
        t = pts * self._tb
        if self._last_t is not None and (t < self._last_t - 0.5 or t > self._last_t + GAP_SECONDS):
            self._new_segment(stream)  # loop, seek or gap: a new continuous stretch
        if self._held is not None:
            data, held_duration = self._held
            self._held = None
            step = max(held_duration or duration, 1)
            self._add(data, pts - step, (dts if dts is not None else pts) - step, held_duration, True)
        self._add(bytes(packet), pts, dts, duration, bool(packet.is_keyframe))

    def _add(self, data: bytes, pts: int, dts: int | None, duration: int, keyframe: bool) -> None:
        if self._waiting_key:
            if not keyframe:
                return  # undecodable without its keyframe
            self._waiting_key = False
        t = pts * self._tb
        if self._ct_offset is None:  # a segment's first packet follows the previous one's clock
            self._ct_offset = self._ct + 0.04 - t
        self._ct = self._ct_offset + t
        self._last_t, self._last_pts, self._last_dts = t, pts, dts
        assert self._segment is not None
        item = RingPacket(
            self._n, self._segment.id, data, pts, dts, duration, keyframe, t, time.time(), self._ct
        )
        self._n += 1
        with self._lock:
            self._packets.append(item)
            if item.keyframe:
                self._keys.append(item)
            self._bytes += len(item.data)
            self._evict()
            self.last_wall = item.wall

    def _new_segment(self, stream: Any) -> None:
        if stream is not self._stream:
            holder = av.open(io.BytesIO(), "w", format="mp4")
            try:
                template = holder.add_stream_from_template(stream)
            except Exception as exc:  # e.g. a codec MP4 cannot carry: no clips from this connection
                self._unsupported = stream
                raise ValueError(
                    f"{stream.codec_context.name} video cannot be cut into MP4 clips: {exc}"
                ) from None
            ctx = stream.codec_context
            rate = float(stream.average_rate or stream.guessed_rate or 25)
            self._stream = stream
            self._tb = float(stream.time_base)
            seg = Segment(
                (self._segment.id + 1) if self._segment else 0,
                stream.time_base,
                template,
                holder,
                ctx.name,
                ctx.width,
                ctx.height,
                rate if rate > 0 else 25.0,
            )
        else:
            assert self._segment is not None
            seg = Segment(
                self._segment.id + 1,
                self._segment.time_base,
                self._segment.template,
                self._segment.holder,
                self._segment.codec,
                self._segment.width,
                self._segment.height,
                self._segment.rate,
            )
        self._segment = seg
        self._last_t = self._last_pts = self._last_dts = None
        self._waiting_key = True
        self._held = None
        self._ct_offset = None
        with self._lock:
            self._segments[seg.id] = seg
            self._forget_segments()

    def _evict(self) -> None:
        """Drop whole GOPs from the front: over the byte bound, or while the rest still spans max_seconds."""
        packets, keys = self._packets, self._keys
        while len(keys) > 1:
            newest, second = packets[-1], keys[1]
            over_bytes = self._bytes > self.max_bytes
            if not (over_bytes or newest.ct - second.ct >= self.max_seconds):
                return
            if not over_bytes and self._pins and min(self._pins.values()) < second.n:
                return  # a clip still needs these (a reader running ahead of its analysis, e.g. a replay)
            keys.popleft()
            while packets[0] is not second:
                gone = packets.popleft()
                self._bytes -= len(gone.data)
                if over_bytes:
                    self.dropped_bytes += len(gone.data)
            self._forget_segments()

    def _forget_segments(self) -> None:
        keep = {self._segment.id} if self._segment else set()
        if self._packets:
            keep.add(self._packets[0].segment)
            keep.update(range(self._packets[0].segment, max(keep) + 1))
        for sid in [s for s in self._segments if s not in keep]:
            del self._segments[sid]

    def note_frame(self, seq: int) -> None:
        """Called as a frame is handed on (reader thread): remember where in the ring it came from."""
        if self._segment is None or self._last_t is None:
            return
        self._marks.append(FrameMark(seq, self._segment.id, self._last_t, self._n - 1))

    def pin(self, token: object, n: int) -> None:
        """Keep packets from position `n` on (unless over the byte bound) until `unpin(token)`."""
        with self._lock:
            self._pins[token] = n

    def unpin(self, token: object) -> None:
        with self._lock:
            self._pins.pop(token, None)

    def close(self) -> None:
        """The reader stopped: writers waiting for more packets give up."""
        self.closed = True

    # ---------------------------------------------------------------- reader side (clip writers)

    def mark_of(self, seq: int) -> FrameMark | None:
        for mark in reversed(list(self._marks)):  # list(): one atomic copy
            if mark.seq == seq:
                return mark
        return None

    def segment(self, sid: int) -> Segment | None:
        with self._lock:
            return self._segments.get(sid)

    @property
    def current_segment(self) -> int | None:
        return self._segment.id if self._segment else None

    def newest(self) -> RingPacket | None:
        with self._lock:
            return self._packets[-1] if self._packets else None

    def take_from(self, sid: int, t_from: float) -> list[RingPacket]:
        """Segment `sid` from the last keyframe at or before `t_from` (else its first buffered keyframe)."""
        with self._lock:
            items = [p for p in self._packets if p.segment == sid]
        start = 0
        for i, p in enumerate(items):
            if p.keyframe and p.t <= t_from + 1e-6:
                start = i
            elif p.t > t_from:
                break
        while start < len(items) and not items[start].keyframe:
            start += 1
        return items[start:]

    def take_after(self, sid: int, n: int, t_until: float) -> list[RingPacket]:
        """Segment `sid` after position `n`, through the first packet at or past `t_until`."""
        with self._lock:
            items = [p for p in self._packets if p.segment == sid and p.n > n]
        out = []
        for p in items:
            out.append(p)
            if p.t >= t_until:
                break
        return out

    def stats(self) -> tuple[int, int, float]:
        """(packets, bytes, seconds) held now."""
        with self._lock:
            if not self._packets:
                return 0, 0, 0.0
            return len(self._packets), self._bytes, self._packets[-1].t - self._packets[0].t


class RtspSourceBefore(RtspSource):
    """RTSP reads bounded by PyAV's read timeout (its interrupt callback, which takes the GIL), as before."""

    def open_options(self, settings):
        options = super().open_options(settings)
        options.pop("timeout", None)
        return options

    def open_timeouts(self, settings):
        return (settings.open_timeout, min(settings.read_timeout, settings.stall_timeout))


def source_before(configured: str):
    return RtspSourceBefore(configured) if configured.startswith("rtsp://") else source_for(configured)


class ReaderBefore(StreamReader):
    """The reader with its per-packet loop (and its RTSP read timeout) as it was."""

    def _read_once(self) -> bool:
        """Open the source and read until it fails; True when a non-looping file has been read to its end."""
        self._source = None  # until chosen: an unknown scheme is described without it (an offline status)
        source = self._source = source_before(self.camera.source)
        try:
            spec = source.prepare(self.camera)
        except SourceError as exc:
            raise SourceError(f"{self._masked()}: {exc}") from None
        playback = source.playback(self.camera)
        if self._state is not CameraState.offline:
            self._set_state(CameraState.connecting, self._error)
        with open_spec(spec) as container:
            if not container.streams.video:
                raise av.error.InvalidDataError(1094995529, "no video stream in source")
            stream = container.streams.video[0]
            stream.thread_count = self.decode_threads
            stream.thread_type = self.thread_type
            while not self._stop_event.is_set():
                self._demux(container, stream, playback)
                if self._stop_event.is_set():
                    return True  # asked to stop: not a stream failure
                if playback.live:
                    raise StreamEnded("stream ended (the server closed it)")
                if not playback.loop:
                    self._set_state(CameraState.stopped)
                    return True
                container.seek(0)  # loop a file: replay and demo sources
        return False

    def _demux(
        self, container: av.container.InputContainer, stream: av.VideoStream, playback: Playback
    ) -> None:
        interval = 1.0 / self.camera.analyze_fps
        next_due: float | None = None
        last_key_t: float | None = None
        key_gaps: list[float] = []
        t0_media: float | None = None
        t0_wall = time.monotonic()
        last_delivery = time.monotonic()
        last_media = 0.0
        self._apply_mode(stream)
        for packet in container.demux(stream):
            if self._stop_event.is_set():
                return
            if time.monotonic() - last_delivery > self.camera.stall_timeout:
                raise StreamStalled(f"no frame for {self.camera.stall_timeout:g} s")
            if packet.size == 0:
                continue
            t_packet = float(packet.pts * packet.time_base) if packet.pts is not None else None
            if packet.is_keyframe and t_packet is not None:
                if last_key_t is not None and t_packet > last_key_t:
                    key_gaps = (key_gaps + [t_packet - last_key_t])[-4:]
                    self._auto_mode(stream, key_gaps, interval)
                last_key_t = t_packet
            if self._on_packet is not None:
                self._on_packet(packet)
            if not packet.is_keyframe and (
                self._mode == "keyframes" or rest_of_gop_unneeded(t_packet, next_due, last_key_t, key_gaps)
            ):
                continue
            for frame in self._decode(packet):
                self._decoded += 1
                t = float(frame.time) if frame.time is not None else last_media + 1.0 / 25
                if t0_media is None or t < last_media - 1.0:  # start, loop or timestamp discontinuity
                    if t0_media is not None:
                        self._media_played += last_media - t0_media + interval
                    t0_media, t0_wall, next_due = t, time.monotonic(), None
                last_media = t
                if playback.paced:
                    delay = (t - t0_media) - (time.monotonic() - t0_wall)
                    if delay > 0 and self._stop_event.wait(delay):
                        return
                if next_due is not None and t + 1e-3 < next_due:
                    last_delivery = time.monotonic()  # decoding is alive; we just don't need this one
                    continue
                next_due = (
                    t + interval if next_due is None or t - next_due > interval else next_due + interval
                )
                self._deliver(frame, t - t0_media, playback)
                last_delivery = time.monotonic()
        if t0_media is not None:  # end of a pass: the next pass (loop) continues the media clock
            self._media_played += last_media - t0_media + 1.0 / max(float(stream.average_rate or 25), 1.0)
