"""One round of analysis over several cameras: the motion gate of each picks the frames that need the
detector, the detector runs once over those, then every camera's pipeline analyses its frame with new
detections or its last ones. The worker runs a round over the fresh frames of all its cameras; replay and
the benchmarks run rounds of one."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sentinel.detect.detections import Detections
from sentinel.detect.detectors import Detector
from sentinel.ingest.reader import Frame
from sentinel.pipeline.camera import CameraPipeline
from sentinel.pipeline.outcomes import FrameOutcome


@dataclass(frozen=True)
class BatchOutcome:
    inferred: int = 0  # frames the detector ran on
    per_frame_ms: float = 0.0  # the detector's milliseconds per frame in this round
    outcomes: list[FrameOutcome] = field(default_factory=list)  # one per frame, in the batch's order


def analyse_batch(batch: Sequence[tuple[CameraPipeline, Frame]], detector: Detector) -> BatchOutcome:
    """The frames run one detector call (a batched run of the NanoDet graph is no faster per frame on a CPU,
    bench/analysis_path.py; a backend may still batch)."""
    todo = [i for i, (pipe, frame) in enumerate(batch) if pipe.needs_inference(frame)]
    fresh: dict[int, Detections] = {}
    per_frame_ms = 0.0
    if todo:
        t0 = time.perf_counter()
        results = detector.detect([batch[i][0].detector_input(batch[i][1]) for i in todo])
        per_frame_ms = (time.perf_counter() - t0) * 1000 / len(todo)
        fresh = dict(zip(todo, results, strict=True))
    outcomes = [pipe.analyse(frame, fresh.get(i)) for i, (pipe, frame) in enumerate(batch)]
    return BatchOutcome(len(todo), per_frame_ms, outcomes)
