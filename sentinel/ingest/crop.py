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


def crop_bgr(
    video: av.VideoFrame | None,
    image: np.ndarray | None,
    rect: tuple[int, int, int, int],
    size: tuple[int, int],
) -> np.ndarray:
    """`rect` (x0, y0, x1, y1 px of the full frame) resized to `size` (w, h; even for 4:2:0), BGR uint8."""
    x0, y0, x1, y1 = rect
    tw, th = size
    shrink = tw < x1 - x0
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    if image is not None or video is None or video.format.name != "yuv420p" or tw % 2 or th % 2:
        if image is None:  # not 4:2:0 (full range, 4:2:2, NV12...): the whole frame through swscale
            assert video is not None
            image = video.to_ndarray(format="bgr24")
        return cv2.resize(image[y0:y1, x0:x1], (tw, th), interpolation=interp)
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
