"""A cache of the detector's output for the evaluation (named as a cache wherever its figures are shown).

`CachedDetector` wraps the real detector (NanoDet through ONNX Runtime, loaded only when a frame misses) and
is handed to replay in its place. For each picture the pipeline gives it, the key is

    (model signature, hash of the picture's pixels)

where the model signature covers the ONNX file's bytes, the model card, the detector settings (score
threshold, NMS IoU) and the source of the revision's `sentinel/detect/detectors/` and `detections.py`. A
picture is the analysis image the pipeline feeds the detector, so the key stands for (clip recipe, frame
index) and is shared by every clip that shows the same picture (looped footage, the frames before an
injection). What is stored is what `Detector.detect` returns -- boxes, scores and classes after the
model's own score threshold and class-wise NMS -- and nothing downstream of it: any filtering a revision
does after the detector (hygiene: per-class thresholds, areas, duplicate boxes, masks) runs on the cached
output exactly as it would on a fresh one. A revision whose detector code differs gets its own entries.

Storage: one SQLite file (WAL, shared by the worker processes) under the evaluation cache.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = "CREATE TABLE IF NOT EXISTS dets (model TEXT NOT NULL, pic BLOB NOT NULL, rows BLOB NOT NULL, PRIMARY KEY (model, pic))"


def model_signature(sentinel_root: Path, card_path: Path, model_path: Path, settings: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(model_path.read_bytes())
    h.update(card_path.read_bytes())
    h.update(repr(sorted(settings.items())).encode())
    code = sorted((sentinel_root / "detect" / "detectors").glob("*.py")) + [
        sentinel_root / "detect" / "detections.py"
    ]
    for p in code:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def picture_key(frame: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((frame.shape, frame.dtype.str)).encode())
    h.update(np.ascontiguousarray(frame).data)
    return h.digest()


class CachedDetector:
    """`Detector` protocol: `class_names` and `detect(frames)`; misses go to `load()`'s real detector."""

    def __init__(
        self,
        db: Path,
        signature: str,
        class_names: list[str],
        load: Callable[[], Any],
        input_size: tuple[int, int] | None = None,
    ) -> None:
        self.class_names = list(class_names)
        self.input_size = input_size  # the card's: zone tiles fill canvases of this size
        self.signature = signature
        self._load = load
        self._real: Any = None
        db.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(db), timeout=60.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        self._db.commit()
        self._pending: list[tuple[str, bytes, bytes]] = []
        self._last_flush = time.monotonic()
        self.hits = 0
        self.misses = 0
        self.detector_seconds = 0.0

    def detect(self, frames: list[np.ndarray]) -> list[Any]:
        from sentinel.detect.detections import Detections

        keys = [picture_key(f) for f in frames]
        out: list[Any] = [None] * len(frames)
        todo: list[int] = []
        for i, k in enumerate(keys):
            row = self._db.execute(
                "SELECT rows FROM dets WHERE model = ? AND pic = ?", (self.signature, k)
            ).fetchone()
            if row is None:
                todo.append(i)
                continue
            r = np.frombuffer(row[0], np.float32).reshape(-1, 6)
            out[i] = Detections(r[:, :4].copy(), r[:, 4].copy(), r[:, 5].astype(np.int32))
            self.hits += 1
        if todo:
            if self._real is None:
                self._real = self._load()
            t0 = time.perf_counter()
            fresh = self._real.detect([frames[i] for i in todo])
            self.detector_seconds += time.perf_counter() - t0
            for i, d in zip(todo, fresh, strict=True):
                out[i] = d
                rows = np.column_stack([d.xyxy, d.score, d.class_id]).astype(np.float32)
                self._pending.append((self.signature, keys[i], rows.tobytes()))
                self.misses += 1
            if len(self._pending) >= 200 or time.monotonic() - self._last_flush > 30:
                self.flush()
        return out

    def flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT OR IGNORE INTO dets VALUES (?, ?, ?)", self._pending)
            self._db.commit()
            self._pending.clear()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()
        self._db.close()


def for_config(db: Path, config: Any) -> CachedDetector:
    """The `detector:` section of `config` (a loaded `SentinelConfig` of the running revision), behind the
    cache; the real detector is loaded on the first miss."""
    import sentinel
    from sentinel.detect.detectors import load_detector, load_model_card

    settings = config.detector
    card = load_model_card(settings.model)
    sig = model_signature(
        Path(sentinel.__file__).parent,
        Path(settings.model),
        Path(card.model_path),
        {"score_threshold": settings.score_threshold, "nms_iou": settings.nms_iou},
    )
    size = (card.input.width, card.input.height)
    return CachedDetector(db, sig, list(card.classes), lambda: load_detector(settings), size)
