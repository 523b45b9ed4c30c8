"""The tracker: stable ids across frames, first-seen time, and whether an object stands still.

At the 0.5-2 fps Sentinel analyses at, a walker moves most of its own width between samples, so matching a
box to the track's *last* box by IoU gave a walker a new id on nearly every frame (vtest.avi at 1 fps: see
bench/tracker.py). Each track therefore carries a constant-velocity Kalman filter (`KalmanBox`) and is
matched where it is *expected* to be now, ByteTrack-style:

1. detections scoring at least `high_score` against every confirmed live track (predicted box);
2. the remaining, lower-scoring detections against the confirmed tracks still unmatched (a walker half
   hidden behind another scores lower, but it is still the same walker);
3. what is left against the tentative tracks, by IoU with their last box only;
4. every box still unmatched starts a track: confirmed from a high-score box, tentative from a low-score
   one, confirmed when seen again at the same spot. Every box gets an id at once, as before this tracker
   (a dim parked car at night, seen every few seconds, keeps the dwell rule's behaviour), but a stray dim
   box cannot take a walker's box from the walker's own track.

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
# A tentative track (one low-score sighting) is confirmed only by a box at the same spot: a stray dim box
# with an unknown speed would otherwise gate half the picture and take a real person's box.
SAME_SPOT = 0.5
CHI2_4DOF_99 = 13.28  # squared Mahalanobis distance within which 99% of true matches fall (4 dof)


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
    confirmed: bool = True  # False: started by a low-score box, not seen since (matched last, by IoU only)

    def stationary_for(self, now: float) -> float:
        return now - self.still_since

    def predicted(self, now: float) -> np.ndarray:
        """Where the track's box is expected at `now`."""
        return self.box if self.motion is None else self.motion.predicted(now - self.last_seen)


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
        self._next_id = 1

    def update(self, dets: Detections, now: float) -> Detections:
        ids = np.full(len(dets), -1, dtype=np.int64)
        live = [t for t in self.tracks.values() if now - t.last_seen <= self.max_age]
        confirmed, tentative = [t for t in live if t.confirmed], [t for t in live if not t.confirmed]
        high = dets.score >= self.high_score
        free = self._match(dets, np.flatnonzero(high), confirmed, ids, now)
        self._match(dets, np.flatnonzero(~high), free, ids, now)
        before = set(np.flatnonzero(ids != -1).tolist())
        self._match(dets, np.flatnonzero(ids == -1), tentative, ids, now, same_spot=True)  # the leftovers
        for d in np.flatnonzero(ids != -1):
            if int(d) not in before:
                self.tracks[int(ids[d])].confirmed = True  # a second sighting
        for d in np.flatnonzero(ids == -1):
            ids[d] = self._start(dets, int(d), now, confirmed=bool(high[d]))
        for tid in [tid for tid, t in self.tracks.items() if now - t.last_seen > self.max_age]:
            del self.tracks[tid]
        return dets.with_tracks(ids)

    def _match(
        self,
        dets: Detections,
        rows: np.ndarray,
        tracks: list[Track],
        ids: np.ndarray,
        now: float,
        same_spot: bool = False,
    ) -> list[Track]:
        """Matches detections `rows` to `tracks` of their class (the assignment of highest total similarity,
        one class at a time; `same_spot`: only by IoU >= SAME_SPOT with the track's last box); sets `ids`,
        returns the unmatched tracks."""
        taken: set[int] = set()
        track_class = np.array([t.class_id for t in tracks], dtype=np.int64)
        for cls in np.unique(dets.class_id[rows]):
            mine, theirs = rows[dets.class_id[rows] == cls], np.flatnonzero(track_class == cls)
            if len(theirs) == 0:
                continue
            if same_spot:
                ious = iou_matrix(dets.xyxy[mine], np.stack([tracks[t].box for t in theirs])).astype(
                    np.float64
                )
                sim = np.where(ious >= SAME_SPOT, ious, 0.0)
            else:
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

    def _start(self, dets: Detections, d: int, now: float, confirmed: bool) -> int:
        box = dets.xyxy[d].copy()
        track = Track(
            self._next_id, int(dets.class_id[d]), box, now, now, still_since=now, confirmed=confirmed
        )
        track.anchor = _centre(box)
        track.motion = KalmanBox(box)
        self.tracks[track.id] = track
        self._next_id += 1
        return track.id

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
