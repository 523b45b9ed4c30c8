"""Tracker figures against the hand-checked person tracks of vtest.avi (bench/data/vtest_person_tracks.csv,
made by bench/tracker_labels.py): identity switches (CLEAR-MOT), fragmentation, a MOTA-like figure, and
line-crossing recall through the real `line_crossing` rule. Used by tests/test_tracker_footage.py and
bench/tracker.py."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from sentinel.detect.detections import Detections
from sentinel.detect.rules import RuleEnv
from sentinel.detect.rules.base import FrameContext
from sentinel.detect.rules.line_crossing import LineCrossing, LineCrossingParams
from sentinel.detect.tracker import iou_matrix
from sentinel.detect.zones import ZoneArea
from tests.support.footage import REPO_ROOT

LABELS = REPO_ROOT / "bench" / "data" / "vtest_person_tracks.csv"
LABEL_FRAMES = 600  # the labels cover frames 0..599 (10 fps)
MATCH_IOU = 0.5
PERSON = 0
# Across the walkway, where people walk left and right past the lamp post (bottom-centres at y 0.35-0.75)
WALKWAY_LINE = ((0.45, 0.2), (0.45, 0.95))


class Tracker:  # what both the shipped tracker and the bench's baseline offer
    def update(self, dets: Detections, now: float) -> Detections: ...


@dataclass(frozen=True)
class TrackFigures:
    fps: float
    gt_boxes: int
    matched: int  # GT boxes matched to a tracked box (track id >= 0)
    id_switches: int
    ids_per_track: float  # distinct tracker ids per GT track (1.0: each person kept one id)
    one_id_tracks: int  # GT tracks that kept one id throughout
    gt_tracks: int
    false_boxes: int  # tracked person boxes matching no label (unlabelled people count here too)
    crossings_gt: int
    crossings_found: int
    crossings_extra: int  # rule crossings matching no labelled crossing (a duplicate after a switch, ...)

    @property
    def mota(self) -> float:
        misses = self.gt_boxes - self.matched
        return 1.0 - (misses + self.false_boxes + self.id_switches) / max(self.gt_boxes, 1)

    @property
    def crossing_recall(self) -> float:
        return self.crossings_found / max(self.crossings_gt, 1)


def load_labels() -> dict[int, list[tuple[int, np.ndarray]]]:
    """{frame: [(gt track, xyxy)]} at 2 fps (every 5th frame of 10)."""
    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    with LABELS.open() as f:
        for row in csv.DictReader(f):
            box = np.array([float(row[k]) for k in ("x1", "y1", "x2", "y2")], dtype=np.float32)
            out.setdefault(int(row["frame"]), []).append((int(row["track"]), box))
    return out


def _match(gt: list[tuple[int, np.ndarray]], boxes: np.ndarray) -> list[tuple[int, int]]:
    """Greedy IoU >= MATCH_IOU pairs (gt index, box index), best first."""
    if not gt or not len(boxes):
        return []
    ious = iou_matrix(np.stack([b for _, b in gt]), boxes)
    pairs, used_g, used_b = [], set(), set()
    for flat in np.argsort(-ious, axis=None, kind="stable"):
        g, b = (int(v) for v in np.unravel_index(flat, ious.shape))
        if ious[g, b] < MATCH_IOU:
            break
        if g not in used_g and b not in used_b:
            pairs.append((g, b))
            used_g.add(g)
            used_b.add(b)
    return pairs


def _rule() -> LineCrossing:
    cfg = LineCrossingParams.model_validate(
        {"kind": "line_crossing", "event_type": "x", "line": WALKWAY_LINE, "window": 3600, "cooldown": 0}
    )
    return LineCrossing(cfg, ZoneArea(None), RuleEnv("cam", ["person"]))


def gt_crossings(labels: dict[int, list[tuple[int, np.ndarray]]]) -> set[int]:
    """GT tracks the rule counts as crossing when fed the labels themselves (perfect ids, 2 fps)."""
    rule = _rule()
    for frame in sorted(labels):
        rows = labels[frame]
        dets = Detections(
            np.stack([b for _, b in rows]),
            np.ones(len(rows), np.float32),
            np.zeros(len(rows), np.int32),
            np.array([g for g, _ in rows], np.int64),
        )
        rule.evaluate(FrameContext("cam", frame / 10, dets))
    return {c.obj.track_id for c in rule.crossings}


def by_frame(detections: tuple[Detections, ...], fps: float) -> dict[int, Detections]:
    """`vtest_detections(fps)` keyed by the 10 fps frame index each one was detected on."""
    step = round(10 / fps)
    return {i * step: d for i, d in enumerate(detections)}


def evaluate(
    make: Callable[[], Tracker],
    detections: Mapping[int, Detections],
    fps: float,
    labels: dict[int, list[tuple[int, np.ndarray]]] | None = None,
) -> TrackFigures:
    """Runs a fresh tracker over `detections` (by 10 fps frame index) sampled at `fps` (all classes, as the
    pipeline gives them) and scores its person tracks against the labels."""
    labels = labels if labels is not None else load_labels()
    step = round(10 / fps)
    tracker, rule = make(), _rule()
    last_id: dict[int, int] = {}
    ids: dict[int, set[int]] = {}
    gt_boxes = matched = switches = false_boxes = 0
    crossing_owner: list[int | None] = []  # per rule crossing: the GT track it was, if any
    for frame in range(0, LABEL_FRAMES, step):
        tracked = tracker.update(detections[frame], frame / 10)
        before = len(rule.crossings)
        rule.evaluate(FrameContext("cam", frame / 10, tracked))
        people = tracked[(tracked.class_id == PERSON) & (tracked.track_id >= 0)]
        gt = labels.get(frame, [])
        pairs = _match(gt, people.xyxy)
        gt_boxes += len(gt)
        matched += len(pairs)
        false_boxes += len(people) - len(pairs)
        owner = {int(people.track_id[b]): gt[g][0] for g, b in pairs}
        for g, b in pairs:
            track, tid = gt[g][0], int(people.track_id[b])
            if track in last_id and last_id[track] != tid:
                switches += 1
            last_id[track] = tid
            ids.setdefault(track, set()).add(tid)
        crossing_owner += [owner.get(c.obj.track_id) for c in list(rule.crossings)[before:]]
    truth = gt_crossings(labels)
    found = {o for o in crossing_owner if o in truth}
    n_tracks = len({g for rows in labels.values() for g, _ in rows})
    return TrackFigures(
        fps=fps,
        gt_boxes=gt_boxes,
        matched=matched,
        id_switches=switches,
        ids_per_track=sum(len(s) for s in ids.values()) / max(len(ids), 1),
        one_id_tracks=sum(len(s) == 1 for s in ids.values()),
        gt_tracks=n_tracks,
        false_boxes=false_boxes,
        crossings_gt=len(truth),
        crossings_found=len(found),
        crossings_extra=len(crossing_owner) - len(found),
    )


def matched_ids(
    make: Callable[[], Tracker], detections: Mapping[int, Detections], fps: float
) -> dict[int, dict[int, int]]:
    """{GT track: {frame: tracker id matched to it}} for a fresh tracker run at `fps` over the labels."""
    labels = load_labels()
    tracker, out = make(), {}
    for frame in range(0, LABEL_FRAMES, round(10 / fps)):
        tracked = tracker.update(detections[frame], frame / 10)
        people = tracked[(tracked.class_id == PERSON) & (tracked.track_id >= 0)]
        gt = labels.get(frame, [])
        for g, b in _match(gt, people.xyxy):
            out.setdefault(gt[g][0], {})[frame] = int(people.track_id[b])
    return out


def label_crossings(min_iou: float = 0.45) -> list[tuple[int, int, int]]:
    """(frame, GT a, GT b): two labelled people whose boxes overlap at least `min_iou` (one passing in front
    of the other), once per pair."""
    found: dict[tuple[int, int], int] = {}
    for frame, rows in sorted(load_labels().items()):
        if len(rows) < 2:
            continue
        ious = iou_matrix(*(2 * [np.stack([b for _, b in rows])]))
        for i, j in zip(*np.nonzero(np.triu(ious, 1) >= min_iou), strict=True):
            found.setdefault((rows[i][0], rows[j][0]), frame)
    return sorted((f, a, b) for (a, b), f in found.items())
