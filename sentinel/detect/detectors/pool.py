"""`DetectorPool`: the named detectors of a process (`detectors: {name: card}`), each loaded once.

A worker holds one pool for all its cameras: a rule or camera names the detector it wants, the pool hands
out the same instance (one ONNX Runtime session) to everyone who asks for that name. Names whose settings
are identical (same card file, same numbers) share one instance too, so a second name for the default
model costs no memory. `load_all()` at start turns a missing or mismatched model into a `ModelError` that
names the detector, before any camera runs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sentinel.detect.detectors.cards import ModelError
from sentinel.detect.detectors.interface import DetectorSettings
from sentinel.detect.detectors.loading import load_detector
from sentinel.detect.detectors.onnx_base import OnnxDetector
from sentinel.detect.settings import DEFAULT_DETECTOR


class UnknownDetector(LookupError):
    """A detector name that the settings do not define."""


@dataclass(frozen=True, slots=True)
class _Identity:
    """What makes two detectors the same: their card file and numbers."""

    card: Path
    score_threshold: float
    nms_iou: float
    threads: int

    @classmethod
    def of(cls, s: DetectorSettings) -> _Identity:
        return cls(Path(s.model).resolve(), float(s.score_threshold), float(s.nms_iou), int(s.threads))


class DetectorPool:
    """Named detectors, loaded on first use (or all at once by `load_all`), one instance per identity."""

    def __init__(self, settings: Mapping[str, DetectorSettings]) -> None:
        if not settings:
            raise ValueError("a detector pool needs at least one detector")
        self._settings = dict(settings)
        self._instances: dict[_Identity, OnnxDetector] = {}
        self._lock = threading.Lock()  # readers of different cameras may ask at the same time

    @property
    def names(self) -> list[str]:
        return list(self._settings)

    @property
    def instances(self) -> int:
        """How many detectors (sessions) are loaded now."""
        return len(self._instances)

    def get(self, name: str = DEFAULT_DETECTOR) -> OnnxDetector:
        """The detector called `name`, loading it the first time (ModelError naming it if it cannot)."""
        settings = self._settings.get(name)
        if settings is None:
            raise UnknownDetector(f"no detector named {name!r} (configured: {', '.join(self._settings)})")
        identity = _Identity.of(settings)
        with self._lock:
            detector = self._instances.get(identity)
            if detector is None:
                try:
                    detector = load_detector(settings)
                except ModelError as e:
                    raise ModelError(f"detector {name!r}: {e}") from e
                self._instances[identity] = detector
        return detector

    def load_all(self) -> dict[str, OnnxDetector]:
        """Every detector by name (at start: a bad model fails now, not when its first frame comes)."""
        return {name: self.get(name) for name in self._settings}
