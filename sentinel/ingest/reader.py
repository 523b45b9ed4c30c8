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
import cv2
import numpy as np

from sentinel.ingest.backoff import Backoff
from sentinel.ingest.crop import crop_bgr, crop_resized
from sentinel.ingest.crop import plane_view as _plane
from sentinel.ingest.errors import StreamEnded, StreamStalled, describe_error
from sentinel.ingest.settings import DecodeMode, StreamSettings
from sentinel.ingest.source import SourceError, mask_url
from sentinel.ingest.sources import Playback, Source, open_spec, source_for

log = logging.getLogger(__name__)

MAX_CORRUPT_RUN = 50  # consecutive undecodable packets before the stream counts as broken


class CameraState(StrEnum):
    connecting = "connecting"
    online = "online"
    offline = "offline"
    stopped = "stopped"


class Frame:
    """One decoded picture handed on for analysis, in whatever form it is needed, converted on first use.

    The reader hands on the decoder's frame (YUV) untouched; nothing is converted in the reader thread.
    `image` is the full-resolution BGR picture (snapshots, replay); `analysis_image(width)` a smaller BGR
    picture made straight from the YUV planes (the luma plane area-averaged, chroma resampled, one colour
    conversion at the small size), for the detector and the image rules; `thumbnail(w, h)` a tiny grey
    picture from the luma plane alone (the motion gate). Each is computed at most once per frame, and a frame
    that is never looked at (replaced in the mailbox, or gated) costs no conversion at all.
    A `Frame` built from a BGR array (tests, tools) derives the same views from that array.
    """

    __slots__ = ("camera_id", "ts", "keyframe", "seq", "width", "height", "_video", "_image", "_views")

    def __init__(
        self,
        camera_id: str,
        image: np.ndarray | None,
        ts: float,
        keyframe: bool,
        seq: int,
        video: av.VideoFrame | None = None,
    ) -> None:
        if image is None and video is None:
            raise ValueError("a Frame needs an image or a decoded video frame")
        self.camera_id = camera_id
        self.ts = ts  # capture time, epoch seconds (media time for files replayed faster than real time)
        self.keyframe = keyframe
        self.seq = seq
        self._video = video
        self._image = image  # BGR uint8, H x W x 3, full resolution
        if video is not None:
            self.width, self.height = int(video.width), int(video.height)
        else:
            assert image is not None
            self.height, self.width = int(image.shape[0]), int(image.shape[1])
        self._views: dict[tuple[str, int, int], np.ndarray] = {}

    def __repr__(self) -> str:
        return f"Frame({self.camera_id!r}, {self.width}x{self.height}, ts={self.ts:.3f}, seq={self.seq})"

    @property
    def image(self) -> np.ndarray:
        """Full-resolution BGR uint8 (H x W x 3)."""
        if self._image is None:
            assert self._video is not None
            self._image = self._video.to_ndarray(format="bgr24")
        return self._image

    def analysis_image(self, max_width: int) -> np.ndarray:
        """BGR uint8 at most `max_width` pixels wide (aspect kept, even size); the full image if the frame
        is not wider (or `max_width` is 0). Pixel positions scale with the size: normalised boxes are the same."""
        w, h = self.width, self.height
        if max_width <= 0 or w <= max_width:
            return self.image
        nw = max_width - max_width % 2
        nh = max(2, round(h * nw / w / 2) * 2)
        key = ("bgr", nw, nh)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = self._small_bgr(nw, nh)
        return view

    def crop_image(self, rect: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
        """BGR uint8 picture `size` (w, h) of `rect` (x0, y0, x1, y1 px) of the full-resolution frame, converted
        from that rectangle's YUV planes alone unless the full picture already was (zone tiles)."""
        video = self._video
        even = size[0] % 2 == 0 and size[1] % 2 == 0 and rect[0] % 2 == 0 and rect[1] % 2 == 0
        if self._image is None and video is not None and video.format.name == "yuv420p" and even:
            return crop_bgr(video, rect, size)
        return crop_resized(self.image, rect, size)  # other formats: the full picture once (swscale), cached

    def thumbnail(self, width: int, height: int) -> np.ndarray:
        """Grey uint8 `height` x `width`, each pixel the mean of its cell of the picture (luma only)."""
        key = ("grey", width, height)
        view = self._views.get(key)
        if view is None:
            if self._video is not None and self._video.format.name in _PLANAR_YUV:
                grey = _plane(self._video, 0, self.width, self.height)
            else:
                grey = cv2.cvtColor(self.image, cv2.COLOR_BGR2GRAY)
            step = max(1, min(grey.shape[1] // (3 * width), grey.shape[0] // (3 * height)))
            if step > 1:  # every step-th pixel first: still >= 3 samples a cell each way, far less to read
                grey = grey[::step, ::step]
            view = self._views[key] = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)
        return view

    def _small_bgr(self, nw: int, nh: int) -> np.ndarray:
        video = self._video
        if self._image is not None or video is None:
            return cv2.resize(self.image, (nw, nh), interpolation=cv2.INTER_AREA)
        if video.format.name != "yuv420p":  # full-range, 4:2:2, NV12...: let swscale do it right
            return video.reformat(nw, nh, format="bgr24", interpolation="AREA").to_ndarray()
        w, h = video.width, video.height
        cw, ch = (w + 1) // 2, (h + 1) // 2
        i420 = np.empty((nh * 3 // 2, nw), dtype=np.uint8)  # Y, then U and V at half size, as I420
        flat = i420.reshape(-1)
        y_size, c_size = nw * nh, (nw // 2) * (nh // 2)
        cv2.resize(_plane(video, 0, w, h), (nw, nh), dst=i420[:nh], interpolation=cv2.INTER_AREA)
        for i, start in ((1, y_size), (2, y_size + c_size)):
            dst = flat[start : start + c_size].reshape(nh // 2, nw // 2)
            cv2.resize(_plane(video, i, cw, ch), (nw // 2, nh // 2), dst=dst, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)


_PLANAR_YUV = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}


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
        self._reconnects = 0
        self._seq = 0
        self._corrupt_run = 0  # consecutive packets the decoder rejected
        self._mode = "keyframes" if camera.decode is DecodeMode.keyframes else "all"
        self._source: Source | None = None  # the camera's source kind, chosen again at each open
        # fast file replay: frame time = this origin + media time played; `media_origin` (epoch seconds of the
        # file's first frame, e.g. its creation_time) makes file replays report media time, not wall time
        self._media_clock = media_origin if media_origin is not None else time.time()
        self._media_played = 0.0  # media seconds of earlier passes (loops) and segments

    # ---------------------------------------------------------------- control

    def stop(self) -> None:
        self._stop_event.set()

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


def rest_of_gop_unneeded(
    t_packet: float | None, next_due: float | None, last_key_t: float | None, key_gaps: list[float]
) -> bool:
    """Decoding every frame (`all`): the next sample is due at or after the next keyframe, so the rest of
    this GOP need not be decoded (a keyframe needs nothing before it). At 1 fps with a 2 s GOP that halves
    the frames decoded. Only where the GOP is regular: a keyframe that comes late would delay a sample."""
    if next_due is None or last_key_t is None or t_packet is None or len(key_gaps) < 2:
        return False
    shortest, longest = min(key_gaps), max(key_gaps)
    if longest - shortest > 0.1 * longest:
        return False
    return t_packet > last_key_t and next_due >= last_key_t + shortest - 1e-3
