"""`ObjectMaskHistory`: where tracked people and vehicles were during each sample interval of a scene rule's
window, and `explained_by_boxes`: which changed regions one of those boxes accounts for.

A scene-change view is a median of samples taken minutes apart. Someone who lingers for a few of them is in
the median although the detector sees them only in some frames, so masking the current frame's boxes is not
enough: every box seen in the interval that led up to a sample (and the one after it) masks that sample.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from sentinel.detect.image_structure import Image, boxes_mask

GROW = 0.2  # a box is grown by this share of its size on each side: detector boxes are tight and jitter
EXPLAIN_GROW = 0.3  # a changed region inside a box grown by this much is that object's
EXPLAIN_INSIDE = 0.7  # ... when this share of the region's bounding box is inside it
EXPLAIN_SIZE = 2.0  # ... and the region is no bigger than this many times the (grown) box


@dataclass
class Interval:
    """The boxes seen between two samples, and the mask they cover (sample resolution)."""

    mask: Image  # bool [H, W]
    boxes: list[np.ndarray]  # normalised xyxy arrays, one per frame that had any


class ObjectMaskHistory:
    """Boxes of tracked objects per sample interval, for the last `intervals` samples."""

    def __init__(self, intervals: int) -> None:
        self.intervals: deque[Interval] = deque(maxlen=intervals)
        self._open: Interval | None = None

    def see(self, boxes: np.ndarray, shape: tuple[int, int]) -> None:
        """The objects of one analysed frame (normalised xyxy), in the interval now open."""
        if self._open is None or self._open.mask.shape != shape:
            self._open = Interval(np.zeros(shape, dtype=bool), [])
        if len(boxes):
            self._open.mask |= boxes_mask(boxes, shape, grow=GROW)
            self._open.boxes.append(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))

    def close(self, shape: tuple[int, int]) -> None:
        """A sample was taken: the open interval is its interval; a new one opens."""
        if self._open is None or self._open.mask.shape != shape:
            self._open = Interval(np.zeros(shape, dtype=bool), [])
        self.intervals.append(self._open)
        self._open = Interval(np.zeros(shape, dtype=bool), [])

    def clear(self) -> None:
        self.intervals.clear()
        self._open = None

    def cover(self, index: int) -> Image:
        """Where objects were around sample `index` (its interval, and the one after it, if any)."""
        mask = self.intervals[index].mask.copy()
        after = self.intervals[index + 1] if index + 1 < len(self.intervals) else self._open
        if after is not None and after.mask.shape == mask.shape:
            mask |= after.mask
        return mask

    def boxes(self) -> np.ndarray:
        """Every box seen over the window (and since its last sample), near-duplicates dropped."""
        parts = [b for iv in self.intervals for b in iv.boxes]
        if self._open is not None:
            parts += self._open.boxes
        if not parts:
            return np.empty((0, 4), dtype=np.float32)
        return np.unique(np.round(np.concatenate(parts), 2), axis=0).astype(np.float32)


def explained_by_boxes(changed: Image, joined: Image, boxes: np.ndarray) -> Image:
    """bool mask of the changed pixels in regions (connected parts of `joined`) that a box accounts for:
    the region's bounding box lies mostly inside the grown box and is not much bigger than it. A person
    or car that lingered leaves a region of its own shape where it stood; a structure is bigger or elsewhere."""
    out = np.zeros(changed.shape, dtype=bool)
    if not len(boxes) or not changed.any():
        return out
    h, w = changed.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined.astype(np.uint8), connectivity=8)
    if n <= 1:
        return out
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    gx1, gx2 = boxes[:, 0] - EXPLAIN_GROW * bw, boxes[:, 2] + EXPLAIN_GROW * bw
    gy1, gy2 = boxes[:, 1] - EXPLAIN_GROW * bh, boxes[:, 3] + EXPLAIN_GROW * bh
    g_area = (gx2 - gx1) * (gy2 - gy1)
    explained = []
    for i in range(1, n):
        x, y, rw, rh = stats[i, :4]
        rx1, ry1, rx2, ry2 = x / w, y / h, (x + rw) / w, (y + rh) / h
        r_area = max((rx2 - rx1) * (ry2 - ry1), 1e-9)
        ix = np.clip(np.minimum(rx2, gx2) - np.maximum(rx1, gx1), 0, None)
        iy = np.clip(np.minimum(ry2, gy2) - np.maximum(ry1, gy1), 0, None)
        fits = (ix * iy >= EXPLAIN_INSIDE * r_area) & (r_area <= EXPLAIN_SIZE * g_area)
        if fits.any():
            explained.append(i)
    if explained:
        out = np.isin(labels, explained) & changed
    return out
