"""One-off stream access for technicians: grab a frame, measure a stream, write a picture (the coordinate
overlay is drawn by `sentinel.detect.annotate.draw_overlay`).

Streams are opened through the same source kinds as the reader's (`sources.source_for`: the kind's options,
open/read timeouts from the camera's settings), so what works here works in `sentinel run`.  Errors are the
reader's av/OS errors; turn them into one line with the source's `describe_error`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.error
import cv2
import numpy as np

from sentinel.ingest.sources import Source, StreamOptions, open_source


def _video_stream(container: Any) -> Any:
    if not container.streams.video:
        raise av.error.InvalidDataError(1094995529, "no video stream in source")
    stream = container.streams.video[0]
    stream.thread_count = 1
    return stream


def grab_frame(source: Source, settings: StreamOptions, max_seconds: float = 15.0) -> np.ndarray:
    """The first decodable frame (BGR uint8) of the stream; raises TimeoutError after `max_seconds`."""
    deadline = time.monotonic() + max_seconds
    with open_source(source, settings) as container:
        stream = _video_stream(container)
        for packet in container.demux(stream):
            if time.monotonic() > deadline:
                break
            if packet.size == 0:
                continue
            for frame in packet.decode():
                image: np.ndarray = frame.to_ndarray(format="bgr24")
                return image
    raise TimeoutError(f"no frame decoded within {max_seconds:g} s")


@dataclass(frozen=True)
class StreamInfo:
    codec: str
    width: int
    height: int
    fps: float | None  # nominal frame rate, else measured from timestamps
    gop_seconds: float | None  # time between keyframes; None when fewer than two were seen
    gop_frames: int | None
    keyframes_seen: int
    frames_decoded: int
    seconds_read: float

    def describe(self) -> str:
        fps = f"{self.fps:g} fps" if self.fps else "fps unknown"
        if self.gop_seconds is None:
            gop = f"GOP unknown (one keyframe in {self.seconds_read:.0f} s)"
        else:
            frames = f", GOP {self.gop_frames} frames" if self.gop_frames else ""
            gop = f"keyframe every {self.gop_seconds:.1f} s{frames}"
        return f"{self.codec.upper()} {self.width}x{self.height}, {fps}, {gop}"


def inspect_stream(
    source: Source, settings: StreamOptions, max_seconds: float = 8.0, keyframes_wanted: int = 3
) -> StreamInfo:
    """Read the stream until `keyframes_wanted` keyframes (or `max_seconds`): codec, size, fps and GOP.

    Only keyframes are decoded (they prove the stream plays); the GOP comes from keyframe timestamps.
    Raises TimeoutError when no frame decodes within `max_seconds`.
    """
    t0 = time.monotonic()
    key_times: list[float] = []
    packet_times: list[float] = []
    decoded = 0
    width = height = 0
    with open_source(source, settings) as container:
        stream = _video_stream(container)
        stream.codec_context.skip_frame = "NONKEY"
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.pts is not None:
                t = float(packet.pts * packet.time_base)
                packet_times.append(t)
                if packet.is_keyframe and (not key_times or t > key_times[-1]):
                    key_times.append(t)
            if packet.is_keyframe:
                for frame in packet.decode():
                    decoded += 1
                    width, height = frame.width, frame.height
            done = decoded > 0 and len(key_times) >= keyframes_wanted
            if done or time.monotonic() - t0 > max_seconds:
                break
        codec = stream.codec_context.name or "unknown"
        rate = stream.average_rate or stream.guessed_rate
    if decoded == 0:
        raise TimeoutError(f"no frame decoded within {max_seconds:g} s")
    fps = round(float(rate), 2) if rate else _measured_fps(packet_times)
    gaps = [b - a for a, b in zip(key_times, key_times[1:], strict=False)]
    gop_s = round(max(gaps), 2) if gaps else None
    gop_frames = round(gop_s * fps) if gop_s is not None and fps else None
    return StreamInfo(
        codec, width, height, fps, gop_s, gop_frames, len(key_times), decoded, time.monotonic() - t0
    )


def _measured_fps(times: list[float]) -> float | None:
    ordered = sorted(set(times))
    if len(ordered) < 3 or ordered[-1] <= ordered[0]:
        return None
    return round((len(ordered) - 1) / (ordered[-1] - ordered[0]), 2)


@dataclass(frozen=True)
class DecodeSuggestion:
    decode: str
    analyze_fps: float
    reason: str


def suggest_decode(gop_seconds: float | None) -> DecodeSuggestion:
    """Decode mode and analysis rate for a stream's keyframe interval (see DESIGN "Decode modes")."""
    if gop_seconds is None or gop_seconds <= 0:
        return DecodeSuggestion(
            "auto", 1.0, "GOP not measured: auto picks keyframes if they come often enough"
        )
    if gop_seconds <= 1.25:
        return DecodeSuggestion(
            "keyframes", 1.0, f"a keyframe every {gop_seconds:.1f} s: keyframes alone give 1 look per second"
        )
    if gop_seconds <= 4.0:
        fps = round(1.0 / gop_seconds, 2)
        return DecodeSuggestion(
            "keyframes",
            fps,
            f"one look per GOP ({gop_seconds:.1f} s): enough for dumping, construction, crowding, "
            "parking; for line_crossing use decode: all and analyze_fps: 2",
        )
    return DecodeSuggestion(
        "all",
        1.0,
        f"keyframes only every {gop_seconds:.1f} s: too sparse, decode every frame and sample 1 fps",
    )


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def write_image(path: Path, image: np.ndarray) -> None:
    """Write PNG or JPEG (by suffix); raises ValueError for other suffixes, OSError when it cannot write."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: use a .png, .jpg or .jpeg file name")
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.suffix.lower() != ".png" else []
    ok, data = cv2.imencode(path.suffix.lower(), image, params)
    if not ok:
        raise OSError(f"{path}: could not encode the image")
    path.write_bytes(data.tobytes())
