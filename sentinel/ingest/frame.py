"""One decoded picture handed on for analysis (`Frame`), converted on first use: the reader's output."""

from __future__ import annotations

import av
import cv2
import numpy as np

from sentinel.ingest.crop import crop_bgr, crop_resized
from sentinel.ingest.crop import plane_view as _plane


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
