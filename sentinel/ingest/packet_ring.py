"""Per camera, the last few seconds of *compressed* video: the packets as demuxed, never decoded.

The reader offers every demuxed video packet (before its keyframe filter, so a keyframes-only camera buffers
every frame too); the ring copies the bytes and timestamps, which costs a memcpy of the stream's bitrate and
no decoding. It starts at a keyframe and drops whole GOPs from the front once it holds more than
`max_seconds` (it always keeps at least that much) or `max_bytes`.

A *segment* is a stretch of continuous timestamps from one connection: a reconnect (a new stream), a file
loop or a timestamp jump starts a new one, and a clip never spans two. Each segment keeps a codec template
(an unstarted in-memory output stream holding the codec parameters, SPS/PPS included) so a clip can be
remuxed after the connection it came from has closed.

The reader thread is the only writer; clip writers read slices under the lock. `offer` never raises: a
problem here must not become a stream failure.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final

import av

log = logging.getLogger(__name__)

GAP_SECONDS = 5.0  # a forward timestamp jump longer than this (or any step back) starts a new segment


@dataclass(slots=True)  # what clip writers get; the ring itself keeps these fields as a tuple (_Entry)
class RingPacket:
    n: int  # position in the ring's whole history (increasing)
    segment: int
    data: bytes
    pts: int
    dts: int | None
    duration: int
    keyframe: bool
    t: float  # media seconds (pts × time base) within the segment
    wall: float  # time.time() when it arrived
    ct: float  # the ring's own continuous clock: media time, segments laid end to end (for eviction)


# what the ring holds per packet: RingPacket's fields as a plain tuple (five times cheaper to build)
_Entry = tuple[int, int, bytes, int, int | None, int, bool, float, float, float]
_N: Final = 0
_SEG: Final = 1
_DATA: Final = 2
_T: Final = 7
_CT: Final = 9


def _packet(entry: _Entry) -> RingPacket:
    return RingPacket(*entry)


@dataclass
class Segment:
    id: int
    time_base: Fraction
    template: Any  # av stream: codec parameters to remux or decode with
    holder: Any = field(repr=False)  # keeps the template's container alive
    codec: str = ""
    width: int = 0
    height: int = 0
    rate: float = 25.0


@dataclass(frozen=True)
class FrameMark:
    """Where a delivered frame sits in the ring: its segment and media time, and the newest packet then."""

    seq: int
    segment: int
    t: float
    n: int


class PacketRing:
    def __init__(self, max_seconds: float = 30.0, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._packets: deque[_Entry] = deque()
        self._keys: deque[_Entry] = deque()  # the keyframes among them
        self._evict_ct = math.inf  # from this ring clock on, the front GOP may go (see _evict)
        self._bytes = 0
        self._n = 0
        self._segments: dict[int, Segment] = {}
        self._segment: Segment | None = None
        self._sid = -1  # self._segment.id, read per packet
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
        # the hot path (every packet of every camera): each av.Packet attribute read once, floats not
        # Fractions, a plain tuple stored (a RingPacket is built only for a clip writer), see bench ingest
        stream = packet.stream
        if stream is not self._stream:
            if stream is self._unsupported:
                return
            self._new_segment(stream)
        pts, dts, duration, keyframe = packet.pts, packet.dts, packet.duration or 0, packet.is_keyframe
        if pts is None or dts is None:
            last_pts, last_dts, step = self._last_pts, self._last_dts, max(duration, 1)
            if pts is None and last_pts is not None:
                pts = last_pts + step
            if dts is None and last_dts is not None:
                dts = last_dts + step
            if pts is None:  # the first packet of a connection often has none (RTSP): date it by the next one
                if keyframe:
                    self._held = (bytes(packet), duration)
                return
        t = pts * self._tb
        last_t = self._last_t
        if last_t is not None and (t < last_t - 0.5 or t > last_t + GAP_SECONDS):
            self._new_segment(stream)  # loop, seek or gap: a new continuous stretch
        if self._held is not None:
            data, held_duration = self._held
            self._held = None
            step = max(held_duration or duration, 1)
            self._add(data, pts - step, (dts if dts is not None else pts) - step, held_duration, True)
        self._add(bytes(packet), pts, dts, duration, keyframe)

    def _add(self, data: bytes, pts: int, dts: int | None, duration: int, keyframe: bool) -> None:
        if self._waiting_key:
            if not keyframe:
                return  # undecodable without its keyframe
            self._waiting_key = False
        t = pts * self._tb
        if self._ct_offset is None:  # a segment's first packet follows the previous one's clock
            self._ct_offset = self._ct + 0.04 - t
        ct = self._ct = self._ct_offset + t
        self._last_t, self._last_pts, self._last_dts = t, pts, dts
        wall = time.time()
        entry: _Entry = (self._n, self._sid, data, pts, dts, duration, keyframe, t, wall, ct)
        self._n += 1
        with self._lock:
            self._packets.append(entry)
            if keyframe:
                self._keys.append(entry)
                if len(self._keys) == 2:  # the front GOP has an end now
                    self._evict_ct = ct + self.max_seconds - 1e-6
            self._bytes += len(data)
            if ct >= self._evict_ct or self._bytes > self.max_bytes:
                self._evict()
            self.last_wall = wall

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
        self._segment, self._sid = seg, seg.id
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
            if not (over_bytes or newest[_CT] - second[_CT] >= self.max_seconds):
                break
            if not over_bytes and self._pins and min(self._pins.values()) < second[_N]:
                break  # a clip still needs these (a reader running ahead of its analysis, e.g. a replay)
            keys.popleft()
            while packets[0] is not second:
                size = len(packets.popleft()[_DATA])
                self._bytes -= size
                if over_bytes:
                    self.dropped_bytes += size
            self._forget_segments()
        # the writer calls this only from _evict_ct on (or over the byte bound); a hair early, never late
        self._evict_ct = keys[1][_CT] + self.max_seconds - 1e-6 if len(keys) > 1 else math.inf

    def _forget_segments(self) -> None:
        keep = {self._segment.id} if self._segment else set()
        if self._packets:
            first = self._packets[0][_SEG]
            keep.add(first)
            keep.update(range(first, max(keep) + 1))
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
            return _packet(self._packets[-1]) if self._packets else None

    def take_from(self, sid: int, t_from: float) -> list[RingPacket]:
        """Segment `sid` from the last keyframe at or before `t_from` (else its first buffered keyframe)."""
        with self._lock:
            entries = [p for p in self._packets if p[_SEG] == sid]
        items = [_packet(e) for e in entries]
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
            items = [_packet(p) for p in self._packets if p[_SEG] == sid and p[_N] > n]
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
            return len(self._packets), self._bytes, self._packets[-1][_T] - self._packets[0][_T]
