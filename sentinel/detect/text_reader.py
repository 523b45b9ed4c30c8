"""`TextReader`: Chinese (and Latin) OCR of one small image region with the PP-OCRv4 detection and recognition
models that PyPI's `rapidocr_onnxruntime` ships inside its wheel (Apache-2.0; nothing is downloaded at run
time). It is imported and loaded lazily, when the first rule that reads text is built: the package takes ~1 s
to load and ~25 MB of models, which cameras without such a rule never pay.

A region is scaled so that its longer side is READ_SIDE pixels before detection: posters on a wall are a few
dozen pixels across at analysis resolution, and PP-OCR wants characters 30+ pixels high. One thread, no
angle classifier (posters and banners hang upright): ~50 ms of CPU per region on this machine (bench/ocr.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

READ_SIDE = 320  # px: the region's longer side for OCR (PP-OCR's detector is limited to this too)


class TextReaderError(ValueError):
    """The OCR model cannot be loaded: the message is one line, naming the file and the reason."""


@dataclass(frozen=True)
class TextLine:
    """One line of text read in a region: what, how sure, where (normalised xyxy in the region's frame)."""

    text: str
    score: float
    box: tuple[float, float, float, float]


class TextReader:
    """OCR of BGR regions. `model_dir`: a folder with the det/rec ONNX files named as in the wheel; None:
    the wheel's own folder."""

    DET_FILE = "ch_PP-OCRv4_det_infer.onnx"
    REC_FILE = "ch_PP-OCRv4_rec_infer.onnx"

    def __init__(self, model_dir: Path | None = None, min_score: float = 0.5) -> None:
        self.min_score = min_score
        self._engine = _load(model_dir, min_score)

    def read(self, image: np.ndarray, box: tuple[int, int, int, int] | None = None) -> list[TextLine]:
        """The text lines in `image[box]` (pixels x1, y1, x2, y2; None: the whole image), top to bottom, each
        box normalised to the whole `image`."""
        h, w = image.shape[:2]
        x1, y1, x2, y2 = box if box is not None else (0, 0, w, h)
        crop = image[y1:y2, x1:x2]
        if crop.size == 0:
            return []
        scale = READ_SIDE / max(crop.shape[:2])
        if scale > 1.0:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        else:
            scale = 1.0
        found, _ = self._engine(np.ascontiguousarray(crop), use_cls=False)
        lines = []
        for quad, text, score in found or []:
            pts = np.asarray(quad, dtype=np.float32) / scale + np.array([x1, y1], dtype=np.float32)
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            norm = (float(lo[0] / w), float(lo[1] / h), float(hi[0] / w), float(hi[1] / h))
            if float(score) >= self.min_score and str(text).strip():
                lines.append(TextLine(str(text).strip(), round(float(score), 4), _rounded(norm)))
        return sorted(lines, key=lambda line: (line.box[1], line.box[0]))


def _rounded(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (round(min(1.0, max(0.0, v)), 4) for v in box)
    return (x1, y1, x2, y2)


def missing_model_file(model_dir: Path) -> str | None:
    """The one-line complaint about a model folder that lacks a file the reader needs; None when both exist."""
    for name in (TextReader.DET_FILE, TextReader.REC_FILE):
        path = Path(model_dir) / name
        if not path.is_file():
            return f"OCR: model file {path} does not exist"
    return None


def _load(model_dir: Path | None, min_score: float) -> Any:
    try:
        from rapidocr_onnxruntime import RapidOCR  # heavy: only where a rule reads text
    except ImportError as exc:  # pragma: no cover - the package is a dependency
        raise TextReaderError(f"OCR: the rapidocr_onnxruntime package is not installed ({exc})") from None
    paths: dict[str, str] = {}
    if model_dir is not None:
        missing = missing_model_file(model_dir)
        if missing:
            raise TextReaderError(missing)
        paths = {
            "det_model_path": str(Path(model_dir) / TextReader.DET_FILE),
            "rec_model_path": str(Path(model_dir) / TextReader.REC_FILE),
        }
    try:
        return RapidOCR(
            det_limit_type="max",
            det_limit_side_len=READ_SIDE,
            use_cls=False,
            text_score=min_score,
            intra_op_num_threads=1,
            inter_op_num_threads=1,
            **paths,
        )
    except Exception as exc:  # onnxruntime's own errors: a truncated or foreign file
        where = model_dir if model_dir is not None else "the rapidocr_onnxruntime wheel"
        reason = " ".join(str(exc).split())[:200]
        raise TextReaderError(
            f"OCR: cannot load the model in {where}: {type(exc).__name__}: {reason}"
        ) from None
