"""NanoDet (GFL head) backend on ONNX Runtime: BGR frames in, `Detections` out.

Pipeline per frame, all vectorised numpy / OpenCV:
  1. resize to the card's input size (letterbox: keep aspect ratio, centre, pad; or stretch) with
     cv2.resize, then normalise ((px - mean) / std) straight into a reused float32 input buffer;
  2. one ONNX Runtime run (the graph's batch is fixed at 1, so frames are run one after another;
     a model with a dynamic batch dimension gets all frames in one run);
  3. per stride: cells with a class score above the threshold (scores are already sigmoid), DFL decode
     of just those cells (softmax over reg_max + 1 bins, expectation, times the stride = distance from
     the cell centre to the left/top/right/bottom side), undo the letterbox;
  4. class-wise greedy NMS in original-frame pixels; boxes returned normalised 0..1 (x1, y1, x2, y2).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from sentinel.detect.detections import Detections
from sentinel.detect.letterbox import Letterbox, Placement
from sentinel.detect.model_card import (
    ModelError,
    NanoDetCard,
    check_model_io,
    check_output_shapes,
    load_model_card,
)

PRE_NMS_PER_LEVEL = 1000  # candidates kept per stride before NMS (as upstream NanoDet's nms_pre)
MAX_DETECTIONS = 100


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


class NanoDetDetector:
    """Implements `sentinel.detect.detector.Detector` for NanoDet ONNX models described by a model card."""

    def __init__(
        self,
        card: NanoDetCard,
        model_path: Path,
        score_threshold: float = 0.35,
        nms_iou: float = 0.6,
        intra_op_threads: int = 1,
    ) -> None:
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {score_threshold}")
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {nms_iou}")
        if intra_op_threads < 1:
            raise ValueError(f"intra_op_threads must be >= 1, got {intra_op_threads}")
        model_path = Path(model_path)
        if not model_path.is_file():
            named_by = f" (named by {card.source})" if card.source else ""
            raise ModelError(f"model file not found: {model_path}{named_by}")

        self.card = card
        self.class_names: list[str] = list(card.classes)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.model_path = model_path
        #: seconds spent in preprocess / inference / postprocess by the last `detect` call
        self.last_timings: dict[str, float] = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own (non-exported) exception types
            msg = " ".join(str(e).split())
            raise ModelError(f"model file unreadable: {model_path}: {msg}") from e
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        check_model_io(card, model_path, inputs, outputs)

        inp = card.input
        self._input_name = inp.name
        self._pre = Letterbox(inp)
        batch_dim = inputs[0].shape[0]
        #: frames per run: the graph's fixed batch size, or 0 when the batch dimension is dynamic
        self.fixed_batch: int = batch_dim if isinstance(batch_dim, int) else 0
        self._buf = np.empty((max(self.fixed_batch, 1), *card.input_shape()[1:]), dtype=np.float32)

        # Output order for `run`: scores, boxes per stride, in the card's stride order.
        self._output_names = [n for pair in card.outputs for n in (pair.scores, pair.boxes)]
        self._strides = [pair.stride for pair in card.outputs]
        self._bins = np.arange(card.head.reg_max + 1, dtype=np.float32)
        self._centres: list[tuple[np.ndarray, np.ndarray]] = []
        for s in self._strides:
            gw, gh = inp.width // s, inp.height // s
            cell = np.arange(gw * gh)
            off = card.head.centre_offset
            cx = ((cell % gw + off) * s).astype(np.float32)
            cy = ((cell // gw + off) * s).astype(np.float32)
            self._centres.append((cx, cy))

        # Probe run: checks the output shapes against the card (they are dynamic in the converted graph)
        # and warms the session up.
        self._buf[:] = 0.0
        probe = self._session.run(self._output_names, {self._input_name: self._buf})
        check_output_shapes(
            card,
            model_path,
            {n: tuple(int(d) for d in a.shape) for n, a in zip(self._output_names, probe, strict=True)},
        )

    # ------------------------------------------------------------------ preprocessing

    def _place(self, w: int, h: int) -> Placement:
        return self._pre.place(w, h)

    def preprocess_into(self, frame: np.ndarray, out: np.ndarray) -> Placement:
        """Resize + normalise one BGR uint8 frame into `out` (one batch row of the input tensor)."""
        return self._pre.preprocess_into(frame, out)

    # ------------------------------------------------------------------ decoding

    def _decode(self, outs: list[np.ndarray], row: int, p: Placement) -> Detections:
        boxes: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        classes: list[np.ndarray] = []
        for level, stride in enumerate(self._strides):
            cls_scores = outs[2 * level][row]  # [N, C]
            cells, cls = np.nonzero(cls_scores > self.score_threshold)
            if cells.size == 0:
                continue
            sc = cls_scores[cells, cls]
            if sc.size > PRE_NMS_PER_LEVEL:
                top = np.argpartition(-sc, PRE_NMS_PER_LEVEL)[:PRE_NMS_PER_LEVEL]
                cells, cls, sc = cells[top], cls[top], sc[top]
            uniq, inverse = np.unique(cells, return_inverse=True)
            reg = outs[2 * level + 1][row][uniq].reshape(len(uniq), 4, -1)  # [M, 4 sides, bins]
            reg = np.exp(reg - reg.max(axis=2, keepdims=True))
            dist = (reg @ self._bins) / reg.sum(axis=2)  # expectation over the bins: [M, 4]
            dist *= stride
            cx, cy = self._centres[level]
            cx, cy = cx[uniq], cy[uniq]
            xyxy = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], axis=1)
            boxes.append(xyxy[inverse])
            scores.append(sc)
            classes.append(cls)
        if not boxes:
            return Detections.empty()
        xyxy = np.concatenate(boxes)
        score = np.concatenate(scores).astype(np.float32)
        class_id = np.concatenate(classes).astype(np.int32)
        # model-input pixels -> 0..1 of the original frame
        xyxy -= np.array([p.ox, p.oy, p.ox, p.oy], dtype=np.float32)
        xyxy /= np.array([p.nw, p.nh, p.nw, p.nh], dtype=np.float32)
        np.clip(xyxy, 0.0, 1.0, out=xyxy)
        valid = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        xyxy, score, class_id = xyxy[valid], score[valid], class_id[valid]
        pixels = xyxy * np.array([p.w, p.h, p.w, p.h], dtype=np.float32)  # IoU in true pixel geometry
        keep = nms_classwise(pixels, score, class_id, self.nms_iou, MAX_DETECTIONS)
        return Detections(xyxy[keep].astype(np.float32), score[keep], class_id[keep])

    # ------------------------------------------------------------------ public API

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        """One `Detections` per BGR uint8 frame (any size), in the order given."""
        t_pre = t_inf = t_post = 0.0
        results: list[Detections] = []
        chunk = self.fixed_batch or max(len(frames), 1)
        for start in range(0, len(frames), chunk):
            part = frames[start : start + chunk]
            t0 = time.perf_counter()
            if self.fixed_batch:
                batch = self._buf
                if len(part) < len(batch):
                    batch[len(part) :] = 0.0
            else:
                if len(self._buf) < len(part):
                    self._buf = np.empty((len(part), *self._buf.shape[1:]), dtype=np.float32)
                batch = self._buf[: len(part)]
            placements = [self.preprocess_into(f, batch[i]) for i, f in enumerate(part)]
            t1 = time.perf_counter()
            outs = self._session.run(self._output_names, {self._input_name: batch})
            t2 = time.perf_counter()
            results.extend(self._decode(outs, i, p) for i, p in enumerate(placements))
            t3 = time.perf_counter()
            t_pre, t_inf, t_post = t_pre + t1 - t0, t_inf + t2 - t1, t_post + t3 - t2
        self.last_timings = {"preprocess": t_pre, "inference": t_inf, "postprocess": t_post}
        return results


def load_detector(
    card_path: Path | str,
    *,
    score_threshold: float = 0.35,
    nms_iou: float = 0.6,
    intra_op_threads: int = 1,
) -> NanoDetDetector:
    """Load the card, check its model exists and matches, and build the detector (ModelError if not).

    NanoDet cards only; `sentinel.detect.backends.load_detector` picks the backend from any card."""
    card = load_model_card(card_path)
    if not isinstance(card, NanoDetCard):
        raise ModelError(
            f"model card {card_path} is for backend {card.backend!r}, not nanodet "
            "(sentinel.detect.backends.load_detector handles every backend)"
        )
    return NanoDetDetector(
        card,
        card.model_path,
        score_threshold=score_threshold,
        nms_iou=nms_iou,
        intra_op_threads=intra_op_threads,
    )
