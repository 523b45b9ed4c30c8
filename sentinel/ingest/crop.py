"""A part of the frame at full resolution as a small BGR picture (zone tiles, `sentinel.detect.tiles`):
for a 4:2:0 frame, only the rectangle's planes are resampled and converted, at the output size."""

from __future__ import annotations

import av
import cv2
import numpy as np


def plane_view(video: av.VideoFrame, index: int, width: int, height: int) -> np.ndarray:
    """Plane `index` of a planar frame as a uint8 array view (its row padding cut off), no copy."""
    plane = video.planes[index]
    return np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)[:height, :width]


def _interpolation(rect: tuple[int, int, int, int], size: tuple[int, int]) -> int:
    return cv2.INTER_AREA if size[0] < rect[2] - rect[0] else cv2.INTER_LINEAR


def crop_resized(image: np.ndarray, rect: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """`rect` (x0, y0, x1, y1 px) of a BGR picture resized to `size` (w, h)."""
    x0, y0, x1, y1 = rect
    return cv2.resize(image[y0:y1, x0:x1], size, interpolation=_interpolation(rect, size))


def crop_bgr(video: av.VideoFrame, rect: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """`rect` (x0, y0, x1, y1 px, even x0 / y0) of a yuv420p frame resized to `size` (w, h, even), BGR uint8:
    each plane's part resampled to the output size, then one colour conversion at that size."""
    x0, y0, x1, y1 = rect
    tw, th = size
    interp = _interpolation(rect, size)
    w, h = video.width, video.height
    cw, ch = (w + 1) // 2, (h + 1) // 2
    i420 = np.empty((th * 3 // 2, tw), dtype=np.uint8)  # Y, then U and V at half size, as I420
    flat = i420.reshape(-1)
    y_size, c_size = tw * th, (tw // 2) * (th // 2)
    cv2.resize(plane_view(video, 0, w, h)[y0:y1, x0:x1], (tw, th), dst=i420[:th], interpolation=interp)
    cx0, cy0, cx1, cy1 = x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2
    for i, start in ((1, y_size), (2, y_size + c_size)):
        dst = flat[start : start + c_size].reshape(th // 2, tw // 2)
        src = plane_view(video, i, cw, ch)[cy0:cy1, cx0:cx1]
        cv2.resize(src, (tw // 2, th // 2), dst=dst, interpolation=interp)
    return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
