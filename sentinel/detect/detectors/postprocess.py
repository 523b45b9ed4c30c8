"""What every box detector does after its own decoding: model-input pixels -> 0..1 of the frame -> NMS."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sentinel.detect.detections import Detections
from sentinel.detect.detectors.letterbox import Placement

PRE_NMS = 3000  # candidates kept (by score) before NMS, as a bound on its cost
MAX_DETECTIONS = 100


@dataclass(frozen=True, slots=True)
class Candidates:
    """One frame's boxes above the score threshold, before NMS: xyxy [N, 4] in model-input pixels,
    score [N], class id [N]."""

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray

    @classmethod
    def none(cls) -> Candidates:
        return cls(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int32))


def nms_classwise(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float, max_det: int
) -> np.ndarray:
    """Greedy NMS within each class; returns kept indices by descending score.

    Boxes of different classes never overlap after shifting each class by its own offset.
    """
    if len(boxes) == 0:
        return np.empty(0, dtype=np.intp)
    b = boxes.astype(np.float64)
    b += (class_ids.astype(np.float64) * (float(b.max()) + 1.0))[:, None]
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.intp)


def to_detections(cands: Candidates, p: Placement, nms_iou: float) -> Detections:
    """Undo the letterbox, clip to the frame, drop empty boxes, class-wise NMS (IoU in true frame pixels)."""
    xyxy, score, class_id = cands.xyxy, cands.score, cands.class_id
    if len(score) == 0:
        return Detections.empty()
    if len(score) > PRE_NMS:
        top = np.argpartition(-score, PRE_NMS)[:PRE_NMS]
        xyxy, score, class_id = xyxy[top], score[top], class_id[top]
    xyxy = p.to_frame(xyxy)
    np.clip(xyxy, 0.0, 1.0, out=xyxy)
    valid = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    xyxy, score, class_id = xyxy[valid], score[valid].astype(np.float32), class_id[valid].astype(np.int32)
    pixels = xyxy * np.array([p.w, p.h, p.w, p.h], dtype=np.float32)
    keep = nms_classwise(pixels, score, class_id, nms_iou, MAX_DETECTIONS)
    return Detections(xyxy[keep], score[keep], class_id[keep])
