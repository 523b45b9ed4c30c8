"""One round of analysis over several cameras: the motion gate of each picks the frames that need the
detector, the detector runs once over those, then every camera's pipeline analyses its frame with new
detections or its last ones. The worker runs a round over the fresh frames of all its cameras; replay and
the benchmarks run rounds of one."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sentinel.detect.detections import Detections
from sentinel.detect.detectors import Detector
from sentinel.detect.tiles import input_size_of
from sentinel.ingest.reader import Frame
from sentinel.pipeline.camera import CameraPipeline
from sentinel.pipeline.outcomes import FrameOutcome


@dataclass(frozen=True)
class BatchOutcome:
    inferred: int = 0  # frames the detectors ran on
    per_frame_ms: float = 0.0  # the detectors' milliseconds per frame in this round (all of a frame's)
    outcomes: list[FrameOutcome] = field(default_factory=list)  # one per frame, in the batch's order


def analyse_batch(
    batch: Sequence[tuple[CameraPipeline, Frame]], detectors: Detector | Mapping[str, Detector]
) -> BatchOutcome:
    """Each detector runs one call over the frames that need it (a batched run of the NanoDet graph is no
    faster per frame on a CPU, bench/analysis_path.py; a backend may still batch). `detectors`: by name, or
    one detector that serves every camera's rules."""
    todo = [i for i, (pipe, frame) in enumerate(batch) if pipe.needs_inference(frame)]
    fresh: dict[int, dict[str, Detections]] = {i: {} for i in todo}
    per_frame_ms = 0.0
    if todo:
        t0 = time.perf_counter()
        wanted: dict[str, list[int]] = {}
        for i in todo:
            for name in batch[i][0].detectors:
                wanted.setdefault(name, []).append(i)
        for name, indices in wanted.items():
            detector = detectors if not isinstance(detectors, Mapping) else _named(detectors, name)
            size = input_size_of(detector)
            inputs = [batch[i][0].detector_inputs(batch[i][1], size) for i in indices]
            results = detector.detect([p for inp in inputs for p in inp.pictures])  # zone tiles: 1+ a frame
            at = 0
            for i, inp in zip(indices, inputs, strict=True):
                fresh[i][name] = inp.merge(results[at : at + len(inp.pictures)])
                at += len(inp.pictures)
        per_frame_ms = (time.perf_counter() - t0) * 1000 / len(todo)
    outcomes = [pipe.analyse(frame, fresh.get(i)) for i, (pipe, frame) in enumerate(batch)]
    return BatchOutcome(len(todo), per_frame_ms, outcomes)


def _named(detectors: Mapping[str, Detector], name: str) -> Detector:
    try:
        return detectors[name]
    except KeyError:
        raise LookupError(f"detector {name!r} is not loaded (loaded: {', '.join(detectors)})") from None
