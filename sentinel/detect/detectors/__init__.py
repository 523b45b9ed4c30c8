"""Detectors: one ONNX base (`OnnxDetector`) and the backends derived from it, chosen by the model card.

    card (models/*.yaml) --card_loading--> card model --registry[backend]--> OnnxDetector subclass
                                                                             (nanodet, yolo, generic)

`load_detector(settings_or_card_path)` builds one detector; `DetectorPool` holds a process's named
detectors, each loaded once. A new detector kind is one module plus one line in `registry.py` (or a
`register_backend` call). Imports nothing above `sentinel.detect`.
"""

from sentinel.detect.detectors.card_loading import load_model_card
from sentinel.detect.detectors.cards import ModelCardBase, ModelError
from sentinel.detect.detectors.interface import Detector, DetectorSettings
from sentinel.detect.detectors.loading import load_detector, load_nanodet, open_detector
from sentinel.detect.detectors.onnx_base import OnnxDetector
from sentinel.detect.detectors.pool import DEFAULT_DETECTOR, DetectorPool, UnknownDetector
from sentinel.detect.detectors.registry import backend_names, register_backend, unregister_backend

__all__ = [
    "DEFAULT_DETECTOR",
    "Detector",
    "DetectorPool",
    "DetectorSettings",
    "ModelCardBase",
    "ModelError",
    "OnnxDetector",
    "UnknownDetector",
    "backend_names",
    "load_detector",
    "load_model_card",
    "load_nanodet",
    "open_detector",
    "register_backend",
    "unregister_backend",
]
