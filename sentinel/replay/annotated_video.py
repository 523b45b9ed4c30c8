"""Replay's annotated video: each analysed frame with the camera's zones, the tracked boxes (class and
track id) and the rules that fired on it, as H.264 at most 960 px wide; the camera's privacy masks blacked
out last, over the drawing, at the video's own size (whole 16-px blocks of it, as in clips)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from sentinel.config.models import CameraConfig
from sentinel.detect.annotate import BOX_COLOUR, TRACK_COLOUR, ZONE_COLOUR, draw_box, draw_text, draw_zones
from sentinel.detect.detections import Detections
from sentinel.detect.privacy import privacy_mask_of

MAX_WIDTH = 960


class AnnotatedVideo:
    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self.fps = max(1, round(fps))
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None

    def add(
        self,
        image: np.ndarray,
        boxes: list[tuple[Detections, list[str]]],
        camera: CameraConfig,
        fired: list[str],
    ) -> None:
        """One analysed frame: `boxes` holds each detector's tracked boxes with its class names."""
        h, w = image.shape[:2]
        scale = min(1.0, MAX_WIDTH / w)
        size = (int(w * scale) // 2 * 2, int(h * scale) // 2 * 2)  # even sides for yuv420p
        canvas = cv2.resize(image, size) if scale < 1.0 else image[: size[1], : size[0]].copy()
        draw_zones(canvas, [z.polygon for z in camera.zones], (ZONE_COLOUR,), 2)
        for dets, names in boxes:
            for box, cls, tid in zip(dets.xyxy, dets.class_id, dets.track_id, strict=True):
                draw_box(canvas, box, TRACK_COLOUR, 1, label=f"{names[int(cls)]} #{tid}", label_scale=0.35)
        for i, name in enumerate(fired):
            draw_text(canvas, f"ALERT {name}", (10, 24 + 22 * i), 0.7, BOX_COLOUR, thickness=2)
        if self._container is None:
            self._container = av.open(str(self.path), "w")
            self._stream = self._container.add_stream("libx264", rate=self.fps)
            self._stream.width, self._stream.height = size
            self._stream.pix_fmt = "yuv420p"
        assert self._stream is not None
        if (self._stream.width, self._stream.height) != size:
            canvas = cv2.resize(canvas, (self._stream.width, self._stream.height))
        privacy_mask_of(camera).apply(canvas)  # canvas is a copy (resized or sliced) of the frame
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(canvas, dtype=np.uint8), format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._container is not None and self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
