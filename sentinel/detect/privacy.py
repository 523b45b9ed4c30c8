"""Privacy masks: polygons of a camera's view (residential windows, private yards) that are blacked out in
every picture that leaves the analysis worker or the console — alert snapshots, re-encoded clip frames, the
console's live view, replay's annotated video and contact sheet, `sentinel camera snapshot` of a camera —
always last, over any drawing.

A mask is grown by `GROW` pixels and then to whole 16×16 blocks before it is painted: JPEG (8×8 blocks,
2×2 chroma) and H.264 (16×16 macroblocks, deblocking reaching 3 px) then code every block that holds a
masked pixel as flat black, so compression cannot smear the hidden picture back in at the edges. The mask
errs on the side of privacy by up to ~24 px. Rules still analyse the unmasked frame.

Face blurring: not shipped. The pip OpenCV wheel here (opencv-python-headless 5.0) has no
`cv2.data.haarcascades` and no `CascadeClassifier` any more; it has `cv2.FaceDetectorYN` (YuNet) but no
installed package ships YuNet's ONNX weights. Debian's `opencv-doc` carries a gzipped
`haarcascade_frontalface_default.xml` (Intel License Agreement, BSD-style), which OpenCV 5 cannot load.
So snapshots get masks, not face blurring; see the report of issue 9.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

BLOCK = 16
GROW = 8
Polygon = Sequence[tuple[float, float]]


class MaskedView(Protocol):
    """Anything that names a view's privacy masks (a camera entry does)."""

    @property
    def privacy_masks(self) -> Sequence[Polygon]: ...


def mask_pixels(height: int, width: int, polygons: Sequence[Polygon]) -> np.ndarray:
    """Boolean H×W mask: the polygons (normalised 0..1), grown by GROW px and out to whole BLOCK blocks."""
    mask = np.zeros((height, width), np.uint8)
    for poly in polygons:
        pts = np.round(np.asarray(poly, np.float64) * [width, height]).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)
    if not mask.any():
        return mask.astype(bool)
    mask = np.asarray(cv2.dilate(mask, np.ones((2 * GROW + 1, 2 * GROW + 1), np.uint8)), np.uint8)
    hb, wb = -(-height // BLOCK), -(-width // BLOCK)
    padded = np.zeros((hb * BLOCK, wb * BLOCK), np.uint8)
    padded[:height, :width] = mask
    blocks = padded.reshape(hb, BLOCK, wb, BLOCK).any(axis=(1, 3))
    full = np.repeat(np.repeat(blocks, BLOCK, axis=0), BLOCK, axis=1)
    return np.ascontiguousarray(full[:height, :width])


class PrivacyMask:
    """A camera's masks, rasterised once per frame size."""

    def __init__(self, polygons: Sequence[Polygon]) -> None:
        self.polygons = [list(p) for p in polygons]
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.polygons)

    def pixels(self, height: int, width: int) -> np.ndarray:
        with self._lock:
            mask = self._cache.get((height, width))
            if mask is None:
                mask = self._cache[(height, width)] = mask_pixels(height, width, self.polygons)
            return mask

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Black out the masked pixels of a BGR (or grey) image in place; returns it."""
        if self.polygons:
            image[self.pixels(*image.shape[:2])] = 0
        return image

    def masked_copy(self, image: np.ndarray) -> np.ndarray:
        return self.apply(image.copy()) if self.polygons else image

    def apply_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, full_range: bool = False) -> None:
        """Black out the planes of a YUV 4:2:0 picture in place (video black: Y 16, or 0 in full range)."""
        if not self.polygons:
            return
        mask = self.pixels(*y.shape)
        y[mask] = 0 if full_range else 16
        chroma = mask[::2, ::2][: u.shape[0], : u.shape[1]]
        u[chroma] = 128
        v[chroma] = 128


_known: dict[tuple[tuple[tuple[float, float], ...], ...], PrivacyMask] = {}


def privacy_mask_of(camera: MaskedView) -> PrivacyMask:
    """The camera's `privacy_masks` as a PrivacyMask (empty when it has none); one per distinct mask set."""
    key = tuple(tuple((float(x), float(y)) for x, y in poly) for poly in camera.privacy_masks)
    mask = _known.get(key)
    if mask is None:
        if len(_known) > 256:
            _known.clear()
        mask = _known[key] = PrivacyMask(list(key))
    return mask


def apply_privacy_masks(image: np.ndarray, camera: MaskedView) -> np.ndarray:
    """A copy of `image` (BGR, H×W×3) with the camera's privacy masks blacked out; the image itself when the
    camera has none. For anything shown outside the worker: the console's live snapshot, exports."""
    return privacy_mask_of(camera).masked_copy(image)
