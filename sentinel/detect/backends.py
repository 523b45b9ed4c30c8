"""Pick and build the detector backend a model card names.

`load_detector(card_path, ...)` reads the card (`sentinel.detect.model_card`), then builds
  * `nanodet`                    -> `sentinel.detect.nanodet.NanoDetDetector`
  * `yolov5`, `yolov8`, `yolov11` -> `sentinel.detect.yolo.YoloDetector` (v11 has the v8 layout)
  * `generic`                    -> `sentinel.detect.generic_onnx.GenericOnnxDetector`
Everything that can be wrong at start (unknown backend, missing or unreadable model, input or output
shapes that do not fit the card's layout, class count) raises `ModelError` with a one-line message.
"""

from __future__ import annotations

from pathlib import Path
from typing import assert_never

from sentinel.detect.detector import Detector
from sentinel.detect.model_card import GenericCard, NanoDetCard, YoloCard, load_model_card


def load_detector(
    card_path: Path | str,
    score_threshold: float = 0.35,
    nms_iou: float = 0.6,
    intra_op_threads: int = 1,
) -> Detector:
    """Load the card, check its model exists and matches, and build its backend (ModelError if not)."""
    card = load_model_card(card_path, resolve_classes=False)  # the detector resolves them from its session
    if isinstance(card, NanoDetCard):
        from sentinel.detect.nanodet import NanoDetDetector

        return NanoDetDetector(card, card.model_path, score_threshold, nms_iou, intra_op_threads)
    if isinstance(card, YoloCard):
        from sentinel.detect.yolo import YoloDetector

        return YoloDetector(card, card.model_path, score_threshold, nms_iou, intra_op_threads)
    if isinstance(card, GenericCard):
        from sentinel.detect.generic_onnx import GenericOnnxDetector

        return GenericOnnxDetector(card, card.model_path, score_threshold, nms_iou, intra_op_threads)
    assert_never(card)
