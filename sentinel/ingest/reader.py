"""One camera's reader thread: open the stream with PyAV, decode, sample, hand frames on; reconnect on failure.

This is where a frame is decoded. The thread never raises: every failure becomes an `offline` status with a
masked, human-readable error, then a reconnect after an exponential, jittered backoff (1 s → 60 s).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import av
import av.error

from sentinel.ingest.backoff import Backoff
from sentinel.ingest.errors import StreamEnded, StreamStalled, describe_error
from sentinel.ingest.frame import Frame
from sentinel.ingest.gop import gop_unneeded, rest_of_gop_unneeded
from sentinel.ingest.settings import DecodeMode, StreamSettings
from sentinel.ingest.source import SourceError, mask_url
from sentinel.ingest.sources import Playback, Source, open_spec, source_for

__all__ = [
    "CameraState",
    "Frame",
    "ReaderStatus",
    "StreamReader",
    "rest_of_gop_unneeded",
]  # Frame: its old home

log = logging.getLogger(__name__)

MAX_CORRUPT_RUN = 50  # consecutive undecodable packets before the stream counts as broken
#: decoding all: a keyframe at most this share of the analysis interval after a sample's due time is sampled
#: instead (the GOP before it is not decoded); each sample stays in its own interval, at most this late
KEYFRAME_SLACK = 0.25
METER_PERIOD = 2.0  # seconds between readings of the reader thread's CPU and decode rate


class CameraState(StrEnum):
    connecting = "connecting"
    online = "online"
    offline = "offline"
    stopped = "stopped"


@dataclass(frozen=True)
class ReaderStatus:
    camera_id: str
    state: CameraState
    since: float
    fps: float  # frames delivered for analysis per second, recent average
    last_frame_at: float | None
    error: str | None  # masked; never contains a password
    decode_mode: str
    frames_decoded: int
    frames_delivered: int  # handed on for analysis since the reader started
    reconnects: int
    analyze_fps: float = 0.0  # the rate asked for now (adaptive: lower while the picture is still)
    packets: int = 0  # video packets demuxed since the reader started
    decode_fps: float = 0.0  # frames decoded per second, recent average (what the decode path costs)
    reader_cpu: float = 0.0  # the reader thread's CPU seconds per second (demux, decode, clip ring)

    @property
    def decoded_share(self) -> float | None:
        """Of the packets demuxed, the share decoded: ~1/GOP on the keyframes path, up to 1 decoding all."""
        return round(self.frames_decoded / self.packets, 4) if self.packets else None


class StreamReader(threading.Thread):
    #: Decoder threads per camera. Many cameras share a worker's cores, so one each. FFmpeg's frame threading
    #: would keep a set of frame buffers per thread (memory) and hold each picture back by one decoded frame
    #: per thread — with keyframes only, by one whole GOP per thread (latency). bench/analysis_path.py
    #: measures it.
    decode_threads = 1
    thread_type = "SLICE"

    def __init__(
        self,
        camera: StreamSettings,
        on_frame: Callable[[Frame], None],
        on_status: Callable[[ReaderStatus], None],
        backoff: Backoff | None = None,
        on_packet: Callable[[av.Packet], None] | None = None,
        media_origin: float | None = None,
    ) -> None:
        super().__init__(name=f"reader-{camera.id}", daemon=True)
        self.camera = camera
        self._on_frame = on_frame
        self._on_packet = on_packet  # every demuxed video packet, before the keyframe filter (packet ring)
        self._on_status = on_status
        self._backoff = backoff or Backoff(1.0, 60.0)
        self._stop_event = threading.Event()
        self._state = CameraState.connecting
        self._since = time.time()
        self._error: str | None = None
        self._last_frame_at: float | None = None
        self._fps = 0.0
        self._decoded = 0
        self._packets = 0  # video packets demuxed (the decoded share: _decoded / _packets)
        self._reconnects = 0
        self._decode_fps = 0.0
        self._cpu = 0.0
        self._meter: tuple[float, float, int] | None = None  # (monotonic, thread CPU, decoded) last reading
        self._seq = 0
        self._corrupt_run = 0  # consecutive packets the decoder rejected
        self._mode = "keyframes" if camera.decode is DecodeMode.keyframes else "all"
        self._source: Source | None = None  # the camera's source kind, chosen again at each open
        # fast file replay: frame time = this origin + media time played; `media_origin` (epoch seconds of the
        # file's first frame, e.g. its creation_time) makes file replays report media time, not wall time
        self._media_clock = media_origin if media_origin is not None else time.time()
        self._media_played = 0.0  # media seconds of earlier passes (loops) and segments
        self._rate = camera.analyze_fps  # samples per second; the pipeline may change it (set_analyze_fps)

    # ---------------------------------------------------------------- control

    def stop(self) -> None:
        self._stop_event.set()

    def set_analyze_fps(self, fps: float) -> None:
        """The analysis rate from now on (any thread: one float, replaced whole), > 0. The next sample is due
        one new interval after the last; `decode: auto` reconsiders keyframes/all at the next keyframe."""
        self._rate = float(fps) if fps > 0 else self._rate

    def status(self) -> ReaderStatus:
        return ReaderStatus(
            camera_id=self.camera.id,
            state=self._state,
            since=self._since,
            fps=round(self._fps, 2),
            last_frame_at=self._last_frame_at,
            error=self._error,
            decode_mode=self._mode,
            frames_decoded=self._decoded,
            frames_delivered=self._seq,
            reconnects=self._reconnects,
            analyze_fps=round(self._rate, 3),
            packets=self._packets,
            decode_fps=round(self._decode_fps, 2),
            reader_cpu=round(self._cpu, 4),
        )

    def _set_state(self, state: CameraState, error: str | None = None) -> None:
        if state != self._state or error != self._error:
            self._state, self._error, self._since = state, error, time.time()
            self._on_status(self.status())

    # ---------------------------------------------------------------- main loop

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                finished = self._read_once()
                if finished:
                    break
            except Exception as exc:  # every failure is a status, never a dead thread
                message = (
                    self._source.describe_error(exc)
                    if self._source is not None
                    else describe_error(exc, self._masked())
                )
                log.warning("camera %s: %s", self.camera.id, message)
                self._set_state(CameraState.offline, message)
            if self._stop_event.is_set():
                break
            self._reconnects += 1
            self._stop_event.wait(self._backoff.next_delay())
        self._set_state(CameraState.stopped, self._error if self._state is CameraState.offline else None)

    def _masked(self) -> str:
        return mask_url(self.camera.source)

    def _read_once(self) -> bool:
        """Open the source and read until it fails; True when a non-looping file has been read to its end."""
        self._source = None  # until chosen: an unknown scheme is described without it (an offline status)
        source = self._source = source_for(self.camera.source, camera_id=self.camera.id)
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
        rate = self._rate
        interval = 1.0 / rate
        next_due: float | None = None
        last_sample = 0.0
        gop_skipped = False  # this GOP's keyframe was not decoded: nothing of it can be
        last_key_t: float | None = None
        key_gaps: list[float] = []
        t0_media: float | None = None
        t0_wall = time.monotonic()
        last_delivery = time.monotonic()
        last_media = 0.0
        self._apply_mode(stream)
        # per packet (25+ a second per camera), so: no Fraction arithmetic, bound methods, attributes read once
        tb = float(stream.time_base or 0)
        on_packet, stopped, monotonic = self._on_packet, self._stop_event.is_set, time.monotonic
        stall = self.camera.stall_timeout
        next_meter = 0.0
        for packet in container.demux(stream):
            if stopped():
                return
            now = monotonic()
            if now - last_delivery > stall:
                raise StreamStalled(f"no frame for {stall:g} s")
            if now >= next_meter:
                next_meter = self._read_meter(now)
            if packet.size == 0:
                continue
            self._packets += 1
            if self._rate != rate:  # set_analyze_fps: the next sample one new interval after the last
                rate = self._rate
                interval = 1.0 / rate
                next_due = None if next_due is None else last_sample + interval
            pts, key = packet.pts, packet.is_keyframe
            t_packet = pts * tb if pts is not None else None
            if key and t_packet is not None:
                if last_key_t is not None and t_packet > last_key_t:
                    key_gaps = (key_gaps + [t_packet - last_key_t])[-4:]
                    self._auto_mode(stream, key_gaps, interval)
                last_key_t = t_packet
            if on_packet is not None:
                on_packet(packet)
            if key:  # no sample in this GOP: not even its keyframe is decoded
                gop_skipped = gop_unneeded(t_packet, next_due, last_media, key_gaps, self._mode)
                if gop_skipped:
                    last_delivery = monotonic()  # the stream is alive
                    continue
            if not key and (
                self._mode == "keyframes"
                or gop_skipped
                or rest_of_gop_unneeded(t_packet, next_due, last_key_t, key_gaps, KEYFRAME_SLACK * interval)
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
                if next_due is None or t - next_due >= interval - 1e-3:  # late by an interval: afresh
                    next_due = t
                next_due += interval
                last_sample = t
                self._deliver(frame, t - t0_media, playback)
                last_delivery = time.monotonic()
        if t0_media is not None:  # end of a pass: the next pass (loop) continues the media clock
            self._media_played += last_media - t0_media + 1.0 / max(float(stream.average_rate or 25), 1.0)

    def _read_meter(self, now: float) -> float:
        """In the reader thread (thread_time is per thread): its CPU and decode rate since the last reading,
        averaged over the recent ones; returns when to read again."""
        cpu, decoded = time.thread_time(), self._decoded
        if self._meter is not None and now > self._meter[0]:
            dt = now - self._meter[0]
            cpu_rate, fps = (cpu - self._meter[1]) / dt, (decoded - self._meter[2]) / dt
            first = self._cpu == 0.0 and self._decode_fps == 0.0
            self._cpu = cpu_rate if first else 0.7 * self._cpu + 0.3 * cpu_rate
            self._decode_fps = fps if first else 0.7 * self._decode_fps + 0.3 * fps
        self._meter = (now, cpu, decoded)
        return now + METER_PERIOD

    def _decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        """Decode one packet; a damaged packet is skipped (the decoder conceals or drops it) rather than
        tearing down the stream. Only a run of them — a stream that yields nothing but garbage — fails."""
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            self._corrupt_run += 1
            if self._corrupt_run >= MAX_CORRUPT_RUN:
                raise
            return []
        self._corrupt_run = 0
        return frames

    def _deliver(self, frame: av.VideoFrame, media_elapsed: float, playback: Playback) -> None:
        now = time.time()
        # a file read faster than real time is stamped in media time; live and paced sources in wall time
        media_time = not playback.live and not playback.paced
        ts = self._media_clock + self._media_played + media_elapsed if media_time else now
        if self._last_frame_at is not None:
            gap = max(ts - self._last_frame_at, 1e-3)
            self._fps = 1.0 / gap if self._fps == 0 else 0.8 * self._fps + 0.2 / gap
        self._last_frame_at = ts
        self._seq += 1
        if self._state is not CameraState.online:
            self._backoff.reset()
            self._set_state(CameraState.online)
        # the decoder's picture as it is: whoever analyses it converts only what it needs (see Frame)
        self._on_frame(Frame(self.camera.id, None, ts, bool(frame.key_frame), self._seq, video=frame))

    # ---------------------------------------------------------------- decode mode

    def _apply_mode(self, stream: av.VideoStream) -> None:
        stream.codec_context.skip_frame = "NONKEY" if self._mode == "keyframes" else "DEFAULT"

    def _auto_mode(self, stream: av.VideoStream, key_gaps: list[float], interval: float) -> None:
        """`auto`: decode keyframes only when they come at least as often as the analysis rate asks."""
        if self.camera.decode is not DecodeMode.auto or len(key_gaps) < 2:
            return
        wanted = "keyframes" if max(key_gaps) <= interval * 1.25 else "all"
        if wanted != self._mode:
            log.info(
                "camera %s: decode mode %s (keyframe every %.1f s)", self.camera.id, wanted, max(key_gaps)
            )
            self._mode = wanted
            self._apply_mode(stream)
