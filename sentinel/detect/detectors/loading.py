"""Building a detector from its model card: the backend the card names, through the registry."""

from __future__ import annotations

from pathlib import Path

from sentinel.detect.detectors.card_loading import load_model_card
from sentinel.detect.detectors.cards import ModelError, NanoDetCard
from sentinel.detect.detectors.interface import DetectorSettings
from sentinel.detect.detectors.nanodet import NanoDetDetector
from sentinel.detect.detectors.onnx_base import OnnxDetector
from sentinel.detect.detectors.registry import detector_type_for
from sentinel.detect.detectors.session import CPU


def open_detector(
    card_path: Path | str,
    *,
    score_threshold: float = 0.35,
    nms_iou: float = 0.6,
    intra_op_threads: int = 1,
    providers: tuple[str, ...] = (CPU,),
) -> OnnxDetector:
    """Load the card, check its model exists and matches, and build its backend (ModelError if not)."""
    card = load_model_card(card_path, resolve_classes=False)  # the detector resolves them from its session
    detector_type = detector_type_for(card.backend)
    return detector_type(
        card, card.model_path, score_threshold, nms_iou, intra_op_threads, providers=providers
    )


def load_detector(
    source: DetectorSettings | Path | str,
    *,
    score_threshold: float | None = None,
    nms_iou: float | None = None,
    intra_op_threads: int | None = None,
) -> OnnxDetector:
    """The detector for `source`: detector settings (the config's `detector:` or one of `detectors:`), or a
    model card path with the numbers given here (defaults 0.35 / 0.6 / 1 thread).

    Numbers come from one place only: passing them with settings is a TypeError."""
    if isinstance(source, Path | str):
        return open_detector(
            source,
            score_threshold=0.35 if score_threshold is None else score_threshold,
            nms_iou=0.6 if nms_iou is None else nms_iou,
            intra_op_threads=1 if intra_op_threads is None else intra_op_threads,
        )
    if (score_threshold, nms_iou, intra_op_threads) != (None, None, None):
        raise TypeError("load_detector(settings) takes its numbers from the settings, not as arguments")
    return open_detector(
        source.model,
        score_threshold=source.score_threshold,
        nms_iou=source.nms_iou,
        intra_op_threads=source.threads,
    )


def load_nanodet(
    card_path: Path | str,
    *,
    score_threshold: float = 0.35,
    nms_iou: float = 0.6,
    intra_op_threads: int = 1,
) -> NanoDetDetector:
    """Like `open_detector`, for NanoDet cards only (what the shipped-model tests and benchmarks want)."""
    card = load_model_card(card_path)
    if not isinstance(card, NanoDetCard):
        raise ModelError(
            f"model card {card_path} is for backend {card.backend!r}, not nanodet "
            "(sentinel.detect.detectors.load_detector handles every backend)"
        )
    return NanoDetDetector(
        card,
        card.model_path,
        score_threshold=score_threshold,
        nms_iou=nms_iou,
        intra_op_threads=intra_op_threads,
    )
