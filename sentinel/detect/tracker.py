"""A small IoU tracker: stable ids across frames, first-seen time, and whether an object stands still.

Greedy matching by IoU within each class is enough at the 0.5–5 fps Sentinel analyses at; ByteTrack's
second low-score pass can come later if tracks fragment on real footage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sentinel.detect.detections import Detections


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: [len(a), len(b)]."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return (inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)).astype(np.float32)


@dataclass
class Track:
    id: int
    class_id: int
    box: np.ndarray
    first_seen: float
    last_seen: float
    anchor: np.ndarray = field(default_factory=lambda: np.zeros(2))  # where it was when it last moved
    still_since: float = 0.0

    def stationary_for(self, now: float) -> float:
        return now - self.still_since


class IouTracker:
    def __init__(self, iou_threshold: float = 0.3, max_age: float = 5.0, move_tolerance: float = 0.5) -> None:
        """`max_age`: seconds a lost track is kept; `move_tolerance`: displacement (in box heights) that counts
        as moving, so detector jitter is not movement."""
        self.iou_threshold = iou_threshold
        self.max_age = max_age
        self.move_tolerance = move_tolerance
        self.tracks: dict[int, Track] = {}
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
            # ious stays untouched while walking its sorted order: overwriting a taken track's column made the
            # next pair of that track read below the threshold and `break`, dropping every weaker match (two
            # neighbours: one got a fresh id each frame)
            for flat in np.argsort(-ious, axis=None):
                d, t = np.unravel_index(flat, ious.shape)
                if ious[d, t] < self.iou_threshold:
                    break
                if ids[d] != -1 or t in taken:  # detection or track already taken
                    continue
                ids[d] = live[t].id
                taken.add(int(t))
                self._refresh(live[t], dets.xyxy[d], now)
        for d in np.flatnonzero(ids == -1):
            track = Track(
                self._next_id, int(dets.class_id[d]), dets.xyxy[d].copy(), now, now, still_since=now
            )
            track.anchor = _centre(track.box)
            self.tracks[track.id] = track
            ids[d] = track.id
            self._next_id += 1
        for tid in [tid for tid, t in self.tracks.items() if now - t.last_seen > self.max_age]:
            del self.tracks[tid]
        return dets.with_tracks(ids)

    def _refresh(self, track: Track, box: np.ndarray, now: float) -> None:
        height = max(float(box[3] - box[1]), 1e-3)
        centre = _centre(box)
        if np.linalg.norm(centre - track.anchor) > self.move_tolerance * height:
            track.anchor, track.still_since = centre, now
        track.box, track.last_seen = box.copy(), now


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
