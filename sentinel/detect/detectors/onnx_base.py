"""`OnnxDetector`: the one ONNX Runtime detector base that every backend (nanodet, yolo, generic) derives from.

The base does everything but the decoding of the outputs:
  * checks the thresholds and that the model file exists (`ModelError` naming the card if not);
  * opens the session (`session.open_session`: threads, execution provider);
  * checks the graph's one input against the card, and takes the class list from the card, else from the
    model's `names` metadata;
  * prepares frames through the card's letterbox into a reused float32 buffer, and batches: a graph with a
    fixed batch of B runs B frames at a time, a dynamic batch runs all frames at once;
  * makes a probe run at start whose output shapes the backend checks (they are often dynamic in the graph),
    which also warms the session up;
  * finishes every frame alike (`postprocess.to_detections`: undo the letterbox, clip, class-wise NMS).

A backend subclass provides three methods: `_select_outputs` (which outputs, in which order),
`_check_outputs` (are the probe's shapes what the card says) and `_candidates` (one frame's boxes above the
threshold, in model-input pixels).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sentinel.detect.detections import Detections
from sentinel.detect.detectors.cards import ModelCardBase, ModelError
from sentinel.detect.detectors.checks import check_input, mismatch
from sentinel.detect.detectors.class_names import with_classes
from sentinel.detect.detectors.letterbox import Letterbox, Placement
from sentinel.detect.detectors.postprocess import Candidates, to_detections
from sentinel.detect.detectors.session import CPU, SessionSettings, open_session


class OnnxDetector:
    """Implements `sentinel.detect.detectors.interface.Detector` for one ONNX model described by a card."""

    #: the card type this backend reads (the registry checks a card against it)
    card_type: ClassVar[type[ModelCardBase]] = ModelCardBase
    card: ModelCardBase

    def __init__(
        self,
        card: ModelCardBase,
        model_path: Path,
        score_threshold: float = 0.35,
        nms_iou: float = 0.6,
        intra_op_threads: int = 1,
        *,
        providers: tuple[str, ...] = (CPU,),
    ) -> None:
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {score_threshold}")
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {nms_iou}")
        if not isinstance(card, self.card_type):
            raise ModelError(
                f"{type(self).__name__} reads {self.card_type.__name__}s, got a {card.backend!r} card"
                + (f" ({card.source})" if card.source else "")
            )
        settings = SessionSettings(intra_op_threads, providers)
        model_path = Path(model_path)
        if not model_path.is_file():
            named_by = f" (named by {card.source})" if card.source else ""
            raise ModelError(f"model file not found: {model_path}{named_by}")
        self.model_path = model_path
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        #: seconds spent in preprocess / inference / postprocess by the last `detect` call
        self.last_timings: dict[str, float] = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}

        self._session: Any = open_session(model_path, settings)
        inputs = self._session.get_inputs()
        check_input(card, model_path, inputs)
        self.card = with_classes(card, model_path, self._session.get_modelmeta().custom_metadata_map)
        self.class_names: list[str] = list(self.card.classes)

        self._input_name: str = inputs[0].name
        self._pre = Letterbox(self.card.input)
        batch_dim = inputs[0].shape[0]
        #: the graph's fixed batch size, or 0 when the batch dimension is dynamic
        self.fixed_batch: int = batch_dim if isinstance(batch_dim, int) else 0
        self._prepare()
        self._output_names = self._select_outputs([o.name for o in self._session.get_outputs()])
        self._buf = np.zeros((max(self.fixed_batch, 1), *self._pre.row_shape), dtype=np.float32)

        probe = self._session.run(self._output_names, {self._input_name: self._buf})
        batched = self._check_outputs([tuple(int(d) for d in a.shape) for a in probe], len(self._buf))
        if not batched and self.fixed_batch > 1:
            raise self._mismatch(f"input batch is {self.fixed_batch} but the outputs have no batch dimension")
        #: frames per run (0: all at once)
        self._per_run = self.fixed_batch if batched else 1

    # ------------------------------------------------------------------ what a backend provides

    def _prepare(self) -> None:
        """Precompute what decoding needs from the card (called before the outputs are selected)."""

    def _select_outputs(self, available: list[str]) -> list[str]:
        """The outputs to fetch, in the order `_candidates` expects (ModelError if one is missing)."""
        raise NotImplementedError

    def _check_outputs(self, shapes: list[tuple[int, ...]], batch: int) -> bool:
        """Check the probe's output shapes (ModelError if wrong); True if they have a batch dimension."""
        raise NotImplementedError

    def _candidates(self, outs: list[np.ndarray], row: int) -> Candidates:
        """Frame `row`'s boxes scoring above the threshold, in model-input pixels."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers for backends

    def _mismatch(self, what: str) -> ModelError:
        return mismatch(self.card, self.model_path, what)

    def _missing_output(self, name: str, available: list[str]) -> ModelError:
        return self._mismatch(f"no output named {name!r} (outputs: {sorted(available)})")

    # ------------------------------------------------------------------ shared

    def _place(self, w: int, h: int) -> Placement:
        return self._pre.place(w, h)

    def _decode(self, outs: list[np.ndarray], row: int, p: Placement) -> Detections:
        return to_detections(self._candidates(outs, row), p, self.nms_iou)

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
            results.extend(self._decode(outs, i, p) for i, p in enumerate(placements))
            t3 = time.perf_counter()
            t_pre, t_inf, t_post = t_pre + t1 - t0, t_inf + t2 - t1, t_post + t3 - t2
        self.last_timings = {"preprocess": t_pre, "inference": t_inf, "postprocess": t_post}
        return results
