"""Tracker before and after, on real pedestrians: identity switches, fragmentation, a MOTA-like figure and
line-crossing recall at 0.5, 1 and 2 fps, against the hand-checked person tracks of vtest.avi 0-60 s
(bench/data/vtest_person_tracks.csv; how they were made: bench/tracker_labels.py).

    PYTHONPATH=. .venv/bin/python bench/tracker.py

Detections: the shipped NanoDet (fp32) on every vtest frame at 10 fps, cached by tests/support/scenes.py,
sampled at each rate (the same boxes the detector gives at that rate: each frame is detected on its own).
Every tracker gets all classes, as in the pipeline; persons are scored. `BaselineIouTracker` is a verbatim
copy of the tracker before issue 16 (greedy IoU with each track's last box), kept here as the baseline.
Figures are counts over the 0-60 s window; runs are deterministic. Last line: the cost of one `update`, median
over the whole clip, both trackers in this process (the ratio is the figure to read on a shared machine).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sentinel.detect.detections import Detections  # noqa: E402
from sentinel.detect.tracker import MotionTracker, iou_matrix  # noqa: E402
from tests.support.scenes import vtest_detections  # noqa: E402
from tests.support.track_metrics import TrackFigures, by_frame, evaluate, load_labels  # noqa: E402


@dataclass
class _BaselineTrack:
    id: int
    class_id: int
    box: np.ndarray
    first_seen: float
    last_seen: float
    anchor: np.ndarray = field(default_factory=lambda: np.zeros(2))
    still_since: float = 0.0

    def stationary_for(self, now: float) -> float:
        return now - self.still_since


class BaselineIouTracker:
    """The tracker before issue 16 (sentinel/detect/tracker.py at 5aebda3), verbatim but for names and its comments."""

    def __init__(self, iou_threshold: float = 0.3, max_age: float = 5.0, move_tolerance: float = 0.5) -> None:
        self.iou_threshold = iou_threshold
        self.max_age = max_age
        self.move_tolerance = move_tolerance
        self.tracks: dict[int, _BaselineTrack] = {}
        self._next_id = 1

    def update(self, dets: Detections, now: float) -> Detections:
        ids = np.full(len(dets), -1, dtype=np.int64)
        live = [t for t in self.tracks.values() if now - t.last_seen <= self.max_age]
        if live and len(dets):
            boxes = np.stack([t.box for t in live])
            ious = iou_matrix(dets.xyxy, boxes)
            same_class = dets.class_id[:, None] == np.array([t.class_id for t in live])[None, :]
            ious = np.where(same_class, ious, 0.0)
            taken: set[int] = set()
            for flat in np.argsort(-ious, axis=None):
                d, t = np.unravel_index(flat, ious.shape)
                if ious[d, t] < self.iou_threshold:
                    break
                if ids[d] != -1 or t in taken:
                    continue
                ids[d] = live[t].id
                taken.add(int(t))
                self._refresh(live[t], dets.xyxy[d], now)
        for d in np.flatnonzero(ids == -1):
            track = _BaselineTrack(
                self._next_id, int(dets.class_id[d]), dets.xyxy[d].copy(), now, now, still_since=now
            )
            track.anchor = _centre(track.box)
            self.tracks[track.id] = track
            ids[d] = track.id
            self._next_id += 1
        for tid in [tid for tid, t in self.tracks.items() if now - t.last_seen > self.max_age]:
            del self.tracks[tid]
        return dets.with_tracks(ids)

    def _refresh(self, track: _BaselineTrack, box: np.ndarray, now: float) -> None:
        height = max(float(box[3] - box[1]), 1e-3)
        centre = _centre(box)
        if np.linalg.norm(centre - track.anchor) > self.move_tolerance * height:
            track.anchor, track.still_since = centre, now
        track.box, track.last_seen = box.copy(), now


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


TRACKERS = {
    "baseline IoU (before)": BaselineIouTracker,
    "motion, gate iou": lambda: MotionTracker(gate="iou"),
    "motion, gate mahalanobis": lambda: MotionTracker(gate="mahalanobis"),
    "motion, gate either (shipped)": MotionTracker,
    "motion, either, one pass": lambda: MotionTracker(high_score=0.35),
}


def row(name: str, f: TrackFigures) -> str:
    return (
        f"| {name} | {f.fps:g} | {f.id_switches} | {f.ids_per_track:.2f} | {f.one_id_tracks}/{f.gt_tracks} | "
        f"{f.matched}/{f.gt_boxes} | {f.mota:.2f} | {f.crossings_found}/{f.crossings_gt} "
        f"({f.crossing_recall:.0%}) | {f.crossings_extra} |"
    )


def update_cost(make: object, detections: dict[int, Detections], rounds: int = 5) -> float:
    """Median milliseconds per `update` over the whole clip at 2 fps (all classes, about 11 boxes a frame)."""
    times = []
    for _ in range(rounds):
        tracker = make()  # type: ignore[operator]
        for frame in range(0, 795, 5):
            start = time.perf_counter()
            tracker.update(detections[frame], frame / 10)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    detections = by_frame(vtest_detections(10.0)[0], 10.0)
    labels = load_labels()
    print(
        "| tracker | fps | id switches | ids per person | one id throughout | boxes tracked | MOTA-ish |",
        end="",
    )
    print(" line crossings found | extra crossings |")
    print("|---|---|---|---|---|---|---|---|---|")
    for fps in (0.5, 1.0, 2.0):
        for name, make in TRACKERS.items():
            print(row(name, evaluate(make, detections, fps, labels)), flush=True)
    base = update_cost(BaselineIouTracker, detections)
    print(f"\ncost per update (median, 2 fps over the clip): baseline {base:.3f} ms", end="")
    shipped = update_cost(MotionTracker, detections)
    print(f", MotionTracker {shipped:.3f} ms ({shipped / base:.1f}x)")


if __name__ == "__main__":
    main()
