"""The detector interface every backend implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from sentinel.detect.detections import Detections


class Detector(Protocol):
    """`detect` takes BGR uint8 frames (any size) and returns one `Detections` per frame."""

    class_names: list[str]

    def detect(self, frames: list[np.ndarray]) -> list[Detections]: ...
