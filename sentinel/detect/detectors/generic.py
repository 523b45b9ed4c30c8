"""The `generic` backend: three outputs named by the card, boxes `[N, 4]` (x1, y1, x2, y2 in model-input
pixels, or normalised to the model input), scores `[N]` and class indices `[N]`, each optionally with a
leading batch dimension. Typical for graphs with NMS inside; the class-wise NMS of the base is applied
anyway (a no-op after the model's own, and it makes raw box lists usable).
"""

from __future__ import annotations

import logging

import numpy as np

from sentinel.detect.detectors.cards import GenericCard
from sentinel.detect.detectors.onnx_base import OnnxDetector
from sentinel.detect.detectors.postprocess import Candidates

log = logging.getLogger(__name__)


class GenericOnnxDetector(OnnxDetector):
    """boxes / scores / classes outputs, named by a `generic` card."""

    card_type = GenericCard
    card: GenericCard

    _batched = False  # set by _check_outputs once the graph's output shapes are known
    _warned_class_ids = False  # class ids beyond the card's list are logged once per detector

    def _prepare(self) -> None:
        w, h = self.card.input.width, self.card.input.height
        normalised = self.card.outputs.box_units == "normalised"
        self._box_scale = np.array([w, h, w, h] if normalised else [1, 1, 1, 1], dtype=np.float32)

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
            raise self._mismatch(
                f"output {o.boxes!r} has shape {list(boxes)}, expected [N, 4] or [{batch}, N, 4] "
                "(x1, y1, x2, y2 per box)"
            )
        for name, shape in ((o.scores, scores), (o.classes, classes)):
            if shape != boxes[:-1]:
                raise self._mismatch(
                    f"output {name!r} has shape {list(shape)}, expected {list(boxes[:-1])} "
                    f"(one per box of {o.boxes!r} {list(boxes)})"
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
        return Candidates(xyxy, scores[keep].astype(np.float32), ids.astype(np.int32))
