"""Media time for a replayed file: alerts are stamped with when things happened *in the recording*.

A frame's time is the file's origin plus the frame's offset from the first frame. The origin is, in order:
  1. the container's `creation_time` metadata (cameras, NVR exports and ffmpeg `-metadata creation_time=`
     write it: the wall-clock moment the recording began);
  2. otherwise the file's modification time minus its duration (a recording is written as it is filmed,
     so it was last touched when filming ended) -- `origin_source` says "mtime" so nobody mistakes it.
The wall-clock time of the replay run is kept apart (`ReplayResult.replayed_at`, `replay.json`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import av


@dataclass(frozen=True)
class MediaOrigin:
    epoch: float  # epoch seconds of the file's first frame
    source: str  # "creation_time" or "mtime"


def parse_creation_time(value: str) -> float | None:
    """ISO 8601 as muxers write it ('2024-05-01T08:00:00.000000Z'); None if it is not a time with a zone."""
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None


def media_origin(video: Path) -> MediaOrigin:
    """The origin of `video`'s media clock (see the module's docstring)."""
    duration = 0.0
    try:
        with av.open(str(video)) as container:
            tags = [container.metadata] + [s.metadata for s in container.streams.video]
            for tag in tags:
                created = parse_creation_time(tag.get("creation_time", ""))
                if created is not None:
                    return MediaOrigin(created, "creation_time")
            duration = float(container.duration) / 1_000_000 if container.duration else 0.0
    except av.error.FFmpegError:
        pass  # the reader reports an unreadable file; the origin does not matter then
    return MediaOrigin(video.stat().st_mtime - duration, "mtime")
