"""YOLO-family ONNX exports (Ultralytics layouts) as users bring them: `yolov5`, `yolov8`, `yolov11` cards.

One output, raw (before NMS), boxes as centre x, centre y, width, height in model-input pixels:
  * v5: `[batch, N, 5 + classes]`: cx, cy, w, h, objectness, per-class scores (sigmoid applied in the
    graph); a box's score is objectness x its best class score (YOLOv5's `non_max_suppression`, one label
    per box). N = 25200 for a 640 input.
  * v8 / v11: `[batch, 4 + classes, N]`: cx, cy, w, h, per-class scores; no objectness. N = 8400 at 640.
The probe run at start checks the output against the card's layout and class count, and says which
backend fits when the layout is the other one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sentinel.detect.detectors.cards import YoloCard
from sentinel.detect.detectors.onnx_base import OnnxDetector
from sentinel.detect.detectors.postprocess import Candidates
from sentinel.detect.detectors.session import CPU


def _cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, 0:2] - half, b[:, 0:2] + half], axis=1).astype(np.float32)


class YoloDetector(OnnxDetector):
    """Implements `sentinel.detect.detectors.interface.Detector` for YOLOv5 / v8 / v11 ONNX exports."""

    card_type = YoloCard
    card: YoloCard

    def __init__(
        self,
        card: YoloCard,
        model_path: Path,
        score_threshold: float = 0.35,
        nms_iou: float = 0.6,
        intra_op_threads: int = 1,
        *,
        providers: tuple[str, ...] = (CPU,),
    ) -> None:
        self._classes_from = "the card lists" if card.classes else "the model's metadata names list"
        super().__init__(card, model_path, score_threshold, nms_iou, intra_op_threads, providers=providers)

    def _select_outputs(self, available: list[str]) -> list[str]:
        if self.card.output is None:
            return available[:1]
        if self.card.output not in available:
            raise self._missing_output(self.card.output, available)
        return [self.card.output]

    def _check_outputs(self, shapes: list[tuple[int, ...]], batch: int) -> bool:
        (shape,) = shapes
        c = len(self.class_names)
        v5 = self.card.layout == "v5"
        if v5:
            want = f"[{batch}, N, {5 + c}] (cx, cy, w, h, objectness, {c} class scores)"
        else:
            want = f"[{batch}, {4 + c}, N] (cx, cy, w, h, {c} class scores, no objectness)"
        found = f"output {self._output_names[0]!r} has shape {list(shape)}, a {self.card.backend} card expects {want}"

        def fail(why: str = "") -> Exception:
            return self._mismatch(found + (f": {why}" if why else ""))

        if len(shape) != 3 or shape[0] != batch:
            raise fail()
        _, a, b = shape
        if v5:
            if b == 5 + c:
                return True
            if a == 4 + c and b > a:
                raise fail("that is the YOLOv8/v11 layout [batch, 4 + classes, N]; use backend: yolov8")
            if a > b > 5:
                raise fail(f"the model has {b - 5} class scores per box but {self._classes_from} {c} classes")
        else:
            if a == 4 + c:
                return True
            if b == 5 + c and a > b:
                raise fail(
                    "that is the YOLOv5 layout [batch, N, 5 + classes] with objectness; use backend: yolov5"
                )
            if b > a > 4:
                raise fail(f"the model has {a - 4} class scores per box but {self._classes_from} {c} classes")
        raise fail()

    def _candidates(self, outs: list[np.ndarray], row: int) -> Candidates:
        pred = outs[0][row]
        thr = self.score_threshold
        if self.card.layout == "v8":  # [4 + C, N]
            cls_scores = pred[4:]
            idx = np.nonzero(cls_scores.max(axis=0) > thr)[0]
            sub = cls_scores[:, idx]
            cls = sub.argmax(axis=0)
            conf = sub[cls, np.arange(len(idx))]
            boxes = pred[:4, idx].T
        else:  # v5: [N, 5 + C]
            cand = pred[np.nonzero(pred[:, 4] > thr)[0]]
            cls_scores = cand[:, 5:] * cand[:, 4:5]
            cls = cls_scores.argmax(axis=1)
            conf = cls_scores[np.arange(len(cand)), cls]
            keep = conf > thr
            boxes, cls, conf = cand[keep, :4], cls[keep], conf[keep]
        return Candidates(_cxcywh_to_xyxy(boxes), conf.astype(np.float32), cls.astype(np.int32))
