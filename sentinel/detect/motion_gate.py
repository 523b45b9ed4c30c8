"""Motion gate: skip the detector on a camera whose picture has not changed since its last inference.

Most surveillance views are still most of the time; running a 40 ms detector on an unchanged picture only
finds the same boxes again. Per camera, the gate keeps a small grey thumbnail (each pixel the mean of its
cell, `MotionGateConfig.width` wide) of the last frame the detector saw. A new frame is run through the
detector when

- there is no such frame yet (start, or the picture changed size, or time went backwards: a new stream),
- more than `min_changed` of the thumbnail's cells differ from it by more than `pixel_threshold` grey levels
  (a person walking in; cell means make sensor and compression noise vanish, a person does not), or
- `max_skip` seconds have passed since the last inference (slow drifts, dusk, a creeping change).

Otherwise the caller reuses the last detections with the new frame's time, so trackers and rules still
see a frame at the analysis rate (dwell, stationarity and zone counts go on) — only the inference is saved.
The comparison is against the last *inferred* frame, not the previous one, so a change too slow to show
between two frames still adds up until it counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sentinel.detect.settings import MotionGateConfig


@dataclass(frozen=True)
class GateDecision:
    infer: bool
    reason: str  # first / changed / max_skip / still / disabled
    changed: float  # share of changed cells (0 when not compared)


class MotionGate:
    def __init__(self, cfg: MotionGateConfig | None = None) -> None:
        self.cfg = cfg or MotionGateConfig()
        self._ref: np.ndarray | None = None  # thumbnail of the last inferred frame
        self._ref_ts: float | None = None
        self.inferred = 0
        self.skipped = 0

    def thumbnail_size(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) of the thumbnail for a `width` x `height` picture: `cfg.width` wide, aspect kept."""
        tw = min(self.cfg.width, width)
        return tw, max(1, round(height * tw / max(width, 1)))

    def reset(self) -> None:
        """Forget the reference: the next frame is run through the detector."""
        self._ref = self._ref_ts = None

    def decide(self, thumb: np.ndarray, ts: float) -> GateDecision:
        """Whether the frame with grey thumbnail `thumb` (uint8) taken at `ts` needs the detector. A yes makes
        it the new reference: the caller runs the detector on it."""
        d = self._decide(thumb, ts)
        if d.infer:
            self._ref, self._ref_ts = thumb, ts
            self.inferred += 1
        else:
            self.skipped += 1
        return d

    def _decide(self, thumb: np.ndarray, ts: float) -> GateDecision:
        if not self.cfg.enabled:
            return GateDecision(True, "disabled", 0.0)
        ref, ref_ts = self._ref, self._ref_ts
        if ref is None or ref_ts is None or ref.shape != thumb.shape or ts < ref_ts:
            return GateDecision(True, "first", 0.0)
        changed = changed_share(ref, thumb, self.cfg.pixel_threshold)
        if changed > self.cfg.min_changed:
            return GateDecision(True, "changed", changed)
        if ts - ref_ts >= self.cfg.max_skip:
            return GateDecision(True, "max_skip", changed)
        return GateDecision(False, "still", changed)


def changed_share(a: np.ndarray, b: np.ndarray, threshold: float) -> float:
    """Share of pixels where two grey uint8 images differ by more than `threshold` levels."""
    diff = cv2.absdiff(a, b)
    return float(np.count_nonzero(diff > threshold)) / max(diff.size, 1)
