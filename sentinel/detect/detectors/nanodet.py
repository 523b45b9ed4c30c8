"""NanoDet (GFL head) outputs: per stride, class scores [1, N, C] (already sigmoid) and box distributions
[1, N, 4 x (reg_max + 1)].

Per stride: cells with a class score above the threshold, then a DFL decode of just those cells (softmax
over the reg_max + 1 bins, expectation, times the stride = distance from the cell centre to the left / top /
right / bottom side). The base class does the rest (letterbox, batching, NMS).
"""

from __future__ import annotations

import numpy as np

from sentinel.detect.detectors.cards import NanoDetCard
from sentinel.detect.detectors.onnx_base import OnnxDetector
from sentinel.detect.detectors.postprocess import Candidates

PRE_NMS_PER_LEVEL = 1000  # candidates kept per stride before NMS (as upstream NanoDet's nms_pre)


class NanoDetDetector(OnnxDetector):
    """Implements `sentinel.detect.detectors.interface.Detector` for NanoDet ONNX models."""

    card_type = NanoDetCard
    card: NanoDetCard

    def _prepare(self) -> None:
        card, inp = self.card, self.card.input
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

    def _select_outputs(self, available: list[str]) -> list[str]:
        """scores, boxes per stride, in the card's stride order."""
        wanted = [n for pair in self.card.outputs for n in (pair.scores, pair.boxes)]
        if len(available) != len(wanted):
            raise self._mismatch(f"{len(available)} outputs, card lists {len(wanted)}")
        for name in wanted:
            if name not in available:
                raise self._missing_output(name, available)
        return wanted

    def _check_outputs(self, shapes: list[tuple[int, ...]], batch: int) -> bool:
        card = self.card
        bins = 4 * (card.head.reg_max + 1)
        got = iter(shapes)
        for pair in card.outputs:
            n = card.cells(pair.stride)
            for name, want in (
                (pair.scores, (batch, n, len(self.class_names))),
                (pair.boxes, (batch, n, bins)),
            ):
                shape = next(got)
                if shape[1:] != want[1:]:
                    raise self._mismatch(
                        f"output {name!r} (stride {pair.stride}) has shape {list(shape)}, "
                        f"card implies {list(want)}"
                    )
        return True

    def _candidates(self, outs: list[np.ndarray], row: int) -> Candidates:
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
            return Candidates.none()
        return Candidates(
            np.concatenate(boxes).astype(np.float32),
            np.concatenate(scores).astype(np.float32),
            np.concatenate(classes).astype(np.int32),
        )
