"""`FrameThumbs`: tiny grey thumbnails of the recent analysed frames, to place the onset of a change that a
sampled view (a median of samples minutes apart) only shows later: between the last sample without it and
the first with it, the first frame from which every frame looks more like the latter, in the changed region.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from sentinel.detect.image_structure import Image, small_grey

THUMB_WIDTH = 80  # pixels: enough to tell a wall from grass over a region, 4.8 KB a frame at 4:3


def thumbnail(image: Image) -> Image:
    """float32 grey at THUMB_WIDTH, brought to a fixed brightness (median 128) so exposure does not count."""
    g = small_grey(image, THUMB_WIDTH)
    return g * (128.0 / max(float(np.median(g)), 4.0))


class FrameThumbs:
    """(ts, thumbnail) of the analysed frames of the last `span` seconds."""

    def __init__(self, span: float) -> None:
        self.span = span
        self.frames: deque[tuple[float, Image]] = deque()

    def add(self, image: Image, ts: float) -> None:
        self.frames.append((ts, thumbnail(image)))
        while self.frames and ts - self.frames[0][0] > self.span:
            self.frames.popleft()

    def clear(self) -> None:
        self.frames.clear()

    def onset(self, region: Image, before: float, after: float) -> float:
        """When the change in `region` (a bool mask, any resolution) appeared between the frames at `before`
        (without it) and `after` (with it): the first frame of that interval from which every frame is closer,
        by the median difference over the region, to the frame at `after`. `after` if the frames are gone."""
        inside = [(t, f) for t, f in self.frames if before <= t <= after]
        if len(inside) < 3 or inside[0][0] != before or inside[-1][0] != after:
            return after
        h, w = inside[0][1].shape
        mask = cv2.resize(region.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        if mask.sum() < 4:
            return after
        old, new = inside[0][1][mask], inside[-1][1][mask]
        onset = after
        for t, f in reversed(inside[1:-1]):
            v = f[mask]
            if np.median(np.abs(v - new)) >= np.median(np.abs(v - old)):
                break
            onset = t
        return onset
