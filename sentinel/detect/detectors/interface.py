"""What the rest of Sentinel sees of a detector, and what it hands in to get one."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from sentinel.detect.detections import Detections


class Detector(Protocol):
    """`detect` takes BGR uint8 frames (any size) and returns one `Detections` per frame, in order."""

    class_names: list[str]

    def detect(self, frames: list[np.ndarray]) -> list[Detections]: ...


class DetectorSettings(Protocol):
    """One detector's settings (the config's `DetectorConfig` is one): its model card and numbers."""

    @property
    def model(self) -> Path: ...
    @property
    def score_threshold(self) -> float: ...
    @property
    def nms_iou(self) -> float: ...
    @property
    def threads(self) -> int: ...
