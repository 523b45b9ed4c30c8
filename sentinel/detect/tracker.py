"""The tracker: stable ids across frames, first-seen time, and whether an object stands still.

At the 0.5-2 fps Sentinel analyses at, a walker moves most of its own width between samples, so matching a
box to the track's *last* box by IoU gave a walker a new id on nearly every frame (vtest.avi at 1 fps: see
bench/tracker.py). Each track therefore carries a constant-velocity Kalman filter (`KalmanBox`) and is
matched where it is *expected* to be now, ByteTrack-style:

1. detections scoring at least `high_score` against every live track (predicted box);
2. the remaining, lower-scoring detections against the tracks still unmatched (a walker half hidden behind
   another scores lower, but it is still the same walker);
3. new tracks from unmatched high-score detections at once; an unmatched low-score box gets a track when it
   is seen again at the same spot on the next update (its id is -1 until then, which rules skip), so a
   dim parked car still gets its track, with `first_seen` from its first sighting.

A pair may match by IoU with the predicted box or by the Mahalanobis distance of the box from the
prediction (which grows with the time since the last sighting and with an unknown speed): at 0.5 fps the
prediction of a walker does not always overlap it. Unmatched tracks are kept `max_age` seconds (time, not
frames: the analysis rate varies). Stillness is measured on the observed boxes, as before: a displacement
of more than `move_tolerance` box heights from the anchor restarts `still_since`, detector jitter does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from sentinel.detect.assignment import max_weight_matching
from sentinel.detect.detections import Detections
from sentinel.detect.kalman_box import KalmanBox, boxes_to_states

Gate = Literal["iou", "mahalanobis", "either"]
CHI2_4DOF_99 = 13.28  # squared Mahalanobis distance within which 99% of true matches fall (4 dof)
PENDING_SAME_SPOT = 0.5  # IoU of a low-score box with one seen on the previous update: the same object


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
    box: np.ndarray  # the last observed box (not the prediction)
    first_seen: float
    last_seen: float
    anchor: np.ndarray = field(default_factory=lambda: np.zeros(2))  # where it was when it last moved
    still_since: float = 0.0
    motion: KalmanBox | None = field(default=None, repr=False)

    def stationary_for(self, now: float) -> float:
        return now - self.still_since

    def predicted(self, now: float) -> np.ndarray:
        """Where the track's box is expected at `now`."""
        return self.box if self.motion is None else self.motion.predicted(now - self.last_seen)


@dataclass
class _Pending:
    """A low-score box not matched to any track, waiting for a second sighting."""

    box: np.ndarray
    class_id: int
    since: float


class MotionTracker:
    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_age: float = 5.0,
        move_tolerance: float = 0.5,
        high_score: float = 0.5,
        gate: Gate = "either",
        max_distance: float = CHI2_4DOF_99,
    ) -> None:
        """`max_age`: seconds a lost track is kept; `move_tolerance`: displacement (in box heights) that counts
        as moving, so detector jitter is not movement; `high_score`: detections at or above it are matched
        first and may start tracks; `gate`: what lets a detection match a track (IoU with the predicted box
        at least `iou_threshold`, squared Mahalanobis distance at most `max_distance`, or either)."""
        self.iou_threshold = iou_threshold
        self.max_age = max_age
        self.move_tolerance = move_tolerance
        self.high_score = high_score
        self.gate = gate
        self.max_distance = max_distance
        self.tracks: dict[int, Track] = {}
        self._pending: list[_Pending] = []
        self._next_id = 1

    def update(self, dets: Detections, now: float) -> Detections:
        ids = np.full(len(dets), -1, dtype=np.int64)
        live = [t for t in self.tracks.values() if now - t.last_seen <= self.max_age]
        high = dets.score >= self.high_score
        free = self._match(dets, np.flatnonzero(high), live, ids, now)
        self._match(dets, np.flatnonzero(~high), free, ids, now)
        for d in np.flatnonzero((ids == -1) & high):
            ids[d] = self._start(dets, int(d), now, now)
        self._pending = self._confirm_low(dets, np.flatnonzero((ids == -1) & ~high), ids, now)
        for tid in [tid for tid, t in self.tracks.items() if now - t.last_seen > self.max_age]:
            del self.tracks[tid]
        return dets.with_tracks(ids)

    def _match(
        self, dets: Detections, rows: np.ndarray, tracks: list[Track], ids: np.ndarray, now: float
    ) -> list[Track]:
        """Matches detections `rows` to `tracks` of their class (the assignment of highest total similarity,
        one class at a time); sets `ids`, returns the unmatched tracks."""
        taken: set[int] = set()
        track_class = np.array([t.class_id for t in tracks], dtype=np.int64)
        for cls in np.unique(dets.class_id[rows]):
            mine, theirs = rows[dets.class_id[rows] == cls], np.flatnonzero(track_class == cls)
            if len(theirs) == 0:
                continue
            sim = self._similarity(dets.xyxy[mine], [tracks[t] for t in theirs], now)
            for r, t in max_weight_matching(sim):
                track = tracks[theirs[t]]
                ids[mine[r]] = track.id
                taken.add(int(theirs[t]))
                self._refresh(track, dets.xyxy[mine[r]], now)
        return [tr for i, tr in enumerate(tracks) if i not in taken]

    def _similarity(self, boxes: np.ndarray, tracks: list[Track], now: float) -> np.ndarray:
        """[boxes, tracks] match score, > 0 only where the gate lets the pair match; higher is better."""
        predicted = np.stack([t.predicted(now) for t in tracks])
        ious = iou_matrix(boxes, predicted).astype(np.float64)
        by_iou = np.where(ious >= self.iou_threshold, ious, 0.0)
        if self.gate == "iou":
            return by_iou
        states = boxes_to_states(boxes)
        dist = np.stack(
            [
                t.motion.distances(states, now - t.last_seen) if t.motion else np.full(len(boxes), np.inf)
                for t in tracks
            ],
            axis=1,
        )
        # on the IoU scale: a box on the prediction scores 1, one at the gate's edge 0
        by_distance = np.clip(1.0 - dist / self.max_distance, 0.0, 1.0)
        return by_distance if self.gate == "mahalanobis" else np.maximum(by_iou, by_distance)

    def _start(self, dets: Detections, d: int, first_seen: float, now: float) -> int:
        box = dets.xyxy[d].copy()
        track = Track(self._next_id, int(dets.class_id[d]), box, first_seen, now, still_since=first_seen)
        track.anchor = _centre(box)
        track.motion = KalmanBox(box)
        self.tracks[track.id] = track
        self._next_id += 1
        return track.id

    def _confirm_low(self, dets: Detections, rows: np.ndarray, ids: np.ndarray, now: float) -> list[_Pending]:
        """Start tracks for low-score boxes seen at the same spot on the last update; the rest wait."""
        waiting = [
            p for p in self._pending if p.since < now
        ]  # an update at the same time is not a second look
        pending: list[_Pending] = []
        ious = np.zeros((len(rows), len(waiting)), dtype=np.float32)
        if len(rows) and waiting:
            ious = iou_matrix(dets.xyxy[rows], np.stack([p.box for p in waiting]))
            same = dets.class_id[rows][:, None] == np.array([p.class_id for p in waiting])[None, :]
            ious = np.where(same, ious, 0.0)
        for r, d in enumerate(rows):
            j = int(np.argmax(ious[r])) if waiting else -1
            if j >= 0 and ious[r, j] >= PENDING_SAME_SPOT:
                ids[d] = self._start(dets, int(d), waiting[j].since, now)
                ious[:, j] = 0.0  # one track per earlier sighting
            else:
                pending.append(_Pending(dets.xyxy[d].copy(), int(dets.class_id[d]), now))
        return pending

    def _refresh(self, track: Track, box: np.ndarray, now: float) -> None:
        height = max(float(box[3] - box[1]), 1e-3)
        centre = _centre(box)
        if np.linalg.norm(centre - track.anchor) > self.move_tolerance * height:
            track.anchor, track.still_since = centre, now
        if track.motion is not None:
            track.motion.update(box, now - track.last_seen)
        track.box, track.last_seen = box.copy(), now


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


# The tracker's name before issue 16, for branches written against it that are still to be merged; new code
# names MotionTracker. Remove once nothing imports it.
IouTracker = MotionTracker
