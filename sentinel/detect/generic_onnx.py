"""Box-list ONNX backends: the shared machinery (`OnnxBoxDetector`) and the `generic` backend.

`OnnxBoxDetector` is the part the YOLO and generic backends share: the ONNX Runtime session, the input
check against the card, class names (card, else the model's `names` metadata), letterbox preprocessing
into a reused buffer, batching (a fixed batch of B runs B frames at a time; a dynamic batch runs all
frames at once), a probe run at start whose output shapes the backend checks, and the common tail:
candidate boxes in model-input pixels -> undo the letterbox -> 0..1 of the frame -> class-wise NMS.
A backend only says which outputs it reads, what shapes it accepts and how to get candidates from them.

`GenericOnnxDetector` reads three outputs named by the card: boxes `[N, 4]` (x1, y1, x2, y2 in
model-input pixels, or normalised to the model input), scores `[N]` and class indices `[N]`, each
optionally with a leading batch dimension. Typical for graphs with NMS inside; the class-wise NMS here
is applied anyway (a no-op after the model's own, and it makes raw box lists usable).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from sentinel.detect.detections import Detections
from sentinel.detect.letterbox import Letterbox, Placement
from sentinel.detect.model_card import (
    GenericCard,
    ModelError,
    YoloCard,
    check_input,
    mismatch,
    with_classes,
)
from sentinel.detect.nanodet import nms_classwise

log = logging.getLogger(__name__)

PRE_NMS = 3000  # candidates kept (by score) before NMS, as a bound on its cost
MAX_DETECTIONS = 100

#: candidates of one frame: boxes [N, 4] x1 y1 x2 y2 in model-input pixels, scores [N], class ids [N]
Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]


def open_session(model_path: Path, intra_op_threads: int) -> Any:
    """A CPU ONNX Runtime session, sequential, `intra_op_threads` threads; ModelError if unreadable."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own (non-exported) exception types
        msg = " ".join(str(e).split())
        raise ModelError(f"model file unreadable: {model_path}: {msg}") from e


class OnnxBoxDetector:
    """Base of the YOLO and generic backends; implements `sentinel.detect.detector.Detector`."""

    card: YoloCard | GenericCard

    def __init__(
        self,
        card: YoloCard | GenericCard,
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
        self.model_path = model_path
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        #: seconds spent in preprocess / inference / postprocess by the last `detect` call
        self.last_timings: dict[str, float] = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}

        self._session = open_session(model_path, intra_op_threads)
        inputs = self._session.get_inputs()
        check_input(card, model_path, inputs)
        self.card = with_classes(card, model_path, self._session.get_modelmeta().custom_metadata_map)
        self.class_names: list[str] = list(self.card.classes)

        self._input_name: str = inputs[0].name
        self._pre = Letterbox(self.card.input)
        batch_dim = inputs[0].shape[0]
        #: the graph's fixed batch size, or 0 when the batch dimension is dynamic
        self.fixed_batch: int = batch_dim if isinstance(batch_dim, int) else 0
        self._output_names = self._select_outputs([o.name for o in self._session.get_outputs()])
        self._buf = np.zeros((max(self.fixed_batch, 1), *self._pre.row_shape), dtype=np.float32)

        # Probe run: the backend checks the real output shapes (often dynamic in the graph) against the
        # card; it also warms the session up.
        probe = self._session.run(self._output_names, {self._input_name: self._buf})
        batched = self._check_outputs([tuple(int(d) for d in a.shape) for a in probe], len(self._buf))
        if not batched and self.fixed_batch > 1:
            raise mismatch(
                self.card,
                model_path,
                f"input batch is {self.fixed_batch} but the outputs have no batch dimension",
            )
        #: frames per run (0: all at once)
        self._per_run = self.fixed_batch if batched else 1

    # ------------------------------------------------------------------ what a backend provides

    def _select_outputs(self, available: list[str]) -> list[str]:
        """The outputs to fetch, in the order `_candidates` expects (ModelError if one is missing)."""
        raise NotImplementedError

    def _check_outputs(self, shapes: list[tuple[int, ...]], batch: int) -> bool:
        """Check the probe's output shapes (ModelError if wrong); True if they have a batch dimension."""
        raise NotImplementedError

    def _candidates(self, outs: list[np.ndarray], row: int) -> Candidates:
        """Frame `row`'s boxes scoring above the threshold, in model-input pixels."""
        raise NotImplementedError

    def _missing_output(self, name: str, available: list[str]) -> ModelError:
        return mismatch(
            self.card, self.model_path, f"no output named {name!r} (outputs: {sorted(available)})"
        )

    # ------------------------------------------------------------------ shared tail

    def _finish(self, cands: Candidates, p: Placement) -> Detections:
        xyxy, score, class_id = cands
        if len(score) == 0:
            return Detections.empty()
        if len(score) > PRE_NMS:
            top = np.argpartition(-score, PRE_NMS)[:PRE_NMS]
            xyxy, score, class_id = xyxy[top], score[top], class_id[top]
        xyxy = p.to_frame(xyxy)
        np.clip(xyxy, 0.0, 1.0, out=xyxy)
        valid = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        xyxy, score, class_id = xyxy[valid], score[valid].astype(np.float32), class_id[valid].astype(np.int32)
        pixels = xyxy * np.array([p.w, p.h, p.w, p.h], dtype=np.float32)  # IoU in true pixel geometry
        keep = nms_classwise(pixels, score, class_id, self.nms_iou, MAX_DETECTIONS)
        return Detections(xyxy[keep], score[keep], class_id[keep])

    def preprocess_into(self, frame: np.ndarray, out: np.ndarray) -> Placement:
        """Resize + normalise one BGR uint8 frame into `out` (one batch row of the input tensor)."""
        return self._pre.preprocess_into(frame, out)

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        """One `Detections` per BGR uint8 frame (any size), in the order given."""
        t_pre = t_inf = t_post = 0.0
        results: list[Detections] = []
        chunk = self._per_run or max(len(frames), 1)
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
            placements = [self._pre.preprocess_into(f, batch[i]) for i, f in enumerate(part)]
            t1 = time.perf_counter()
            outs = self._session.run(self._output_names, {self._input_name: batch})
            t2 = time.perf_counter()
            results.extend(self._finish(self._candidates(outs, i), p) for i, p in enumerate(placements))
            t3 = time.perf_counter()
            t_pre, t_inf, t_post = t_pre + t1 - t0, t_inf + t2 - t1, t_post + t3 - t2
        self.last_timings = {"preprocess": t_pre, "inference": t_inf, "postprocess": t_post}
        return results


class GenericOnnxDetector(OnnxBoxDetector):
    """boxes / scores / classes outputs, named by a `generic` card."""

    card: GenericCard

    def __init__(
        self,
        card: GenericCard,
        model_path: Path,
        score_threshold: float = 0.35,
        nms_iou: float = 0.6,
        intra_op_threads: int = 1,
    ) -> None:
        self._batched = False
        self._warned_class_ids = False
        w, h = card.input.width, card.input.height
        normalised = card.outputs.box_units == "normalised"
        self._box_scale = np.array([w, h, w, h] if normalised else [1, 1, 1, 1], dtype=np.float32)
        super().__init__(card, model_path, score_threshold, nms_iou, intra_op_threads)

    def _select_outputs(self, available: list[str]) -> list[str]:
        o = self.card.outputs
        for name in (o.boxes, o.scores, o.classes):
            if name not in available:
                raise self._missing_output(name, available)
        return [o.boxes, o.scores, o.classes]

    def _check_outputs(self, shapes: list[tuple[int, ...]], batch: int) -> bool:
        boxes, scores, classes = shapes
        o = self.card.outputs
        if len(boxes) == 2 and boxes[1] == 4:
            self._batched = False
        elif len(boxes) == 3 and boxes[2] == 4 and boxes[0] == batch:
            self._batched = True
        else:
            raise mismatch(
                self.card,
                self.model_path,
                f"output {o.boxes!r} has shape {list(boxes)}, expected [N, 4] or [{batch}, N, 4] "
                "(x1, y1, x2, y2 per box)",
            )
        for name, shape in ((o.scores, scores), (o.classes, classes)):
            if shape != boxes[:-1]:
                raise mismatch(
                    self.card,
                    self.model_path,
                    f"output {name!r} has shape {list(shape)}, expected {list(boxes[:-1])} "
                    f"(one per box of {o.boxes!r} {list(boxes)})",
                )
        return self._batched

    def _candidates(self, outs: list[np.ndarray], row: int) -> Candidates:
        boxes, scores, classes = (a[row] for a in outs) if self._batched else outs
        keep = np.nonzero(scores > self.score_threshold)[0]
        ids = np.rint(classes[keep].astype(np.float64)).astype(np.int64)
        known = (ids >= 0) & (ids < len(self.class_names))
        if not known.all():
            if not self._warned_class_ids:
                log.warning(
                    "model %s returned class ids outside 0..%d (e.g. %d); those boxes are dropped",
                    self.model_path,
                    len(self.class_names) - 1,
                    int(ids[~known][0]),
                )
                self._warned_class_ids = True
            keep, ids = keep[known], ids[known]
        xyxy = boxes[keep].astype(np.float32) * self._box_scale
        return xyxy, scores[keep].astype(np.float32), ids.astype(np.int32)
