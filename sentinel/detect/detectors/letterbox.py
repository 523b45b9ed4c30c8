"""Frame -> model input (resize, letterbox, colour order, normalisation) and back, for every backend.

The letterbox matches Ultralytics' `LetterBox(auto=False, scaleup=True, center=True)`: scale by
min(in_w / w, in_h / h), resized size rounded, the border split evenly with the odd pixel on the
right / bottom (their round(d / 2 -+ 0.1)), filled with `pad_value` before normalisation.
Boxes go back with the exact inverse of that placement, per axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sentinel.detect.detectors.cards import InputBase


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a frame of size w x h went inside the model input: at (ox, oy), resized to nw x nh."""

    w: int
    h: int
    ox: int
    oy: int
    nw: int
    nh: int

    def to_frame(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes [N, 4] (x1, y1, x2, y2) in model-input pixels -> 0..1 of the original frame (float32,
        not clipped)."""
        out = np.asarray(xyxy, dtype=np.float32) - np.array([self.ox, self.oy, self.ox, self.oy], np.float32)
        out /= np.array([self.nw, self.nh, self.nw, self.nh], dtype=np.float32)
        return out


class Letterbox:
    """Preprocessing for one model input spec, writing into caller-owned float32 buffers."""

    def __init__(self, spec: InputBase) -> None:
        self.size = (spec.width, spec.height)
        self.nchw = spec.layout == "NCHW"
        self.swap_rb = spec.colour_order == "RGB"
        self.letterbox = spec.resize == "letterbox"
        self.mean = np.asarray(spec.mean, dtype=np.float32)
        self.inv_std = (1.0 / np.asarray(spec.std, dtype=np.float32)).astype(np.float32)
        self.pad = ((spec.pad_value - self.mean) * self.inv_std).astype(np.float32)
        self.chan = (3, 1, 1) if self.nchw else (1, 1, 3)  # broadcast shape of per-channel constants
        w, h = self.size
        self.row_shape = (3, h, w) if self.nchw else (h, w, 3)

    def place(self, w: int, h: int) -> Placement:
        in_w, in_h = self.size
        if not self.letterbox:
            return Placement(w, h, 0, 0, in_w, in_h)
        scale = min(in_w / w, in_h / h)
        nw, nh = max(1, min(in_w, round(w * scale))), max(1, min(in_h, round(h * scale)))
        return Placement(w, h, (in_w - nw) // 2, (in_h - nh) // 2, nw, nh)

    def preprocess_into(self, frame: np.ndarray, out: np.ndarray) -> Placement:
        """Resize + normalise one BGR uint8 frame into `out` (one batch row of the input tensor)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 BGR frame, got {frame.dtype} {frame.shape}")
        h, w = frame.shape[:2]
        p = self.place(w, h)
        img = (
            frame
            if (p.nw, p.nh) == (w, h)
            else cv2.resize(frame, (p.nw, p.nh), interpolation=cv2.INTER_LINEAR)
        )
        if self.swap_rb:
            img = img[..., ::-1]
        if (p.nw, p.nh) != self.size:
            out[:] = self.pad.reshape(self.chan)  # the letterbox border
        if self.nchw:
            region = out[:, p.oy : p.oy + p.nh, p.ox : p.ox + p.nw]
            src = img.transpose(2, 0, 1)
        else:
            region = out[p.oy : p.oy + p.nh, p.ox : p.ox + p.nw, :]
            src = img
        np.subtract(src, self.mean.reshape(self.chan), out=region)
        np.multiply(region, self.inv_std.reshape(self.chan), out=region)
        return p
