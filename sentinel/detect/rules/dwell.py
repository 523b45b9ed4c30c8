"""`dwell`: an object of the given classes stands still in a zone for `min_duration` — illegal parking
(机动车乱停放, 非机动车乱停放) and, with a companion class, road vending (占道经营: a stall with a vendor at it).

Examples (under a camera's `rules:` in cameras.yaml):

    - kind: dwell                      # 机动车乱停放
      event_type: motor_parking
      zone: fire_lane
      classes: [car, bus, truck, motorcycle]
      min_duration: 5m                 # stationary this long in the zone (a red light is shorter)
      cooldown: 10m                    # after an alert, the next parked vehicle waits this long
      max_gap: 30s                     # unseen up to 30 s (missed, occluded) and back in place: same vehicle
    - kind: dwell                      # 非机动车乱停放 (COCO has no e-bike: it detects them as motorcycle)
      event_type: nonmotor_parking
      zone: pavement
      classes: [bicycle, motorcycle]
      min_duration: 10m
    - kind: dwell                      # 占道经营: a parasol or table standing still with a person at it
      event_type: road_vending
      zone: pavement
      classes: [umbrella, dining table]   # COCO has no stall or cart; chair and bench are weaker proxies
      with_classes: [person]
      with_within: 1.0                 # near: boxes at most one stall size apart
      min_duration: 3m

Stationarity is the tracker's (`Track.still_since`, as in `Track.stationary_for`). The rule remembers each
stationary object as a *stay* across track ids, and each stay fires once (dedup per object):
- a detector miss shorter than the tracker's max_age keeps the track id;
- a longer loss, or a label flicker (car ↔ truck), gives a new track id; a new track that has not moved
  rejoins the stay whose last box it overlaps (IoU ≥ 0.5), so a parked car seen intermittently is one alert;
- the stay ends when its object leaves the spot where it stopped (the tracker sees it move and its box no
  longer overlaps that spot), or goes unseen for `max_gap`.
`cooldown` spaces alerts across stays: a second car parked inside it fires when it ends, if still there.
With `with_classes` the time counts from when both the object has stood still and a companion has been near
it (companion gaps up to `max_gap` allowed), and it fires on a frame that shows both.
Known limit: a car that leaves unseen (no detection while it drives off) and another that parks on the very
same spot within `max_gap` are taken for one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from sentinel.detect.detections import Detections
from sentinel.detect.rules.base import FrameContext, RuleEnv, RuleEvent, RuleParams, SeenObject
from sentinel.detect.rules.count_in_zone import seen_object, seen_objects, zone_polygon
from sentinel.detect.tracker import Track, iou_matrix
from sentinel.detect.zones import ZoneArea
from sentinel.fields import Seconds

# Stricter than the tracker's own 0.3: a lost stay is re-acquired only by a box at the same place, not by a
# neighbour or a passer-by overlapping it.
REACQUIRE_IOU = 0.5
# A stay ends when its track moves (the tracker's stillness restarts) *and* its box has left the spot where it
# stopped: less than half of the smaller box overlaps the other. A box shrunk by someone walking in front of a
# parked car, or shifted by detector jitter, moves the tracker's anchor but stays on the spot.
SAME_SPOT = 0.5


class DwellParams(RuleParams):
    """An object of `classes` stays stationary in the zone for `min_duration` (parking, stalls).

    With `with_classes`, only while an object of those classes stays near it (a vendor at a stall)."""

    kind: Literal["dwell"]
    classes: list[str] = Field(min_length=1)
    min_duration: Seconds = 120.0
    min_score: float = Field(default=0.35, gt=0, lt=1)
    with_classes: list[str] = Field(
        default_factory=list, description="companions that must stay near the object (e.g. [person])"
    )
    with_within: float = Field(
        default=1.0,
        ge=0,
        le=10,
        description="near = the gap between the boxes is at most this many object sizes (its box's longer side)",
    )
    max_gap: Seconds = Field(
        default=30.0,
        description="an object or companion unseen up to this long (missed, occluded) and back in place "
        "is the same stay",
    )

    @model_validator(mode="after")
    def _companions(self) -> DwellParams:
        both = [c for c in self.with_classes if c in self.classes]
        if both:
            raise ValueError(f"class {both[0]!r} is in both classes and with_classes")
        if "with_within" in self.model_fields_set and not self.with_classes:
            raise ValueError("with_within needs with_classes (the companions it measures)")
        return self


@dataclass(eq=False)  # identity: two stays are never "equal", even at the same place
class _Stay:
    """One stationary object (a car, a stall) as the rule remembers it, across track ids."""

    label: str
    score: float
    box: np.ndarray  # at the last sighting
    anchor: np.ndarray  # where it stopped
    track_id: int  # the track it was last seen as
    since: float  # standing still since
    last_seen: float
    joined: dict[int, float]  # track id → when it joined; that track moving afterwards ends the stay
    with_since: float | None = None  # a companion near since (gaps up to max_gap allowed)
    with_last: float | None = None
    with_seen: list[SeenObject] = field(default_factory=list)  # companions at the last sighting
    fired: bool = False

    def started_at(self) -> float:
        return self.since if self.with_since is None else max(self.since, self.with_since)

    def held(self, needs_companion: bool) -> float:
        """How long the condition has held, up to the latest sighting."""
        if not needs_companion:
            return self.last_seen - self.since
        if self.with_since is None or self.with_last is None:
            return 0.0
        return min(self.last_seen - self.since, self.with_last - self.with_since)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(max(w, 0) * max(h, 0) / max(smaller, 1e-9))


class Dwell:
    kind = "dwell"
    uses_image = False  # boxes only: the worker need not convert the picture for it

    def __init__(self, cfg: DwellParams, area: ZoneArea, env: RuleEnv) -> None:
        names = env.class_names
        unknown = [c for c in [*cfg.classes, *cfg.with_classes] if c not in names]
        if unknown:
            raise ValueError(f"dwell: the model has no class {unknown[0]!r}")
        self.cfg = cfg
        self.area = area
        self.class_names = names
        self.class_ids = np.array([names.index(c) for c in cfg.classes], dtype=np.int64)
        self.with_ids = np.array([names.index(c) for c in cfg.with_classes], dtype=np.int64)
        self.needs_companion = bool(cfg.with_classes)
        self.event_type = cfg.event_type
        self.zone = area.name
        self.stays: list[_Stay] = []
        self.by_track: dict[int, _Stay] = {}
        self.last_fired: float | None = None
        self.counts_from = float("-inf")  # stillness counts from here: the schedule's arming (`rearm`)

    def rearm(self, ts: float) -> None:
        """Armed again by the schedule: forget every stay of before. The tracker kept running while the rule
        was disarmed, so an object that stood still since before the arming counts from the arming."""
        self.stays, self.by_track, self.last_fired = [], {}, None
        self.counts_from = ts

    def retune(self, params: DwellParams) -> bool:
        """New thresholds (a profile switch) keep the stays; other classes need a fresh rule."""
        if (params.classes, params.with_classes) != (self.cfg.classes, self.cfg.with_classes):
            return False
        self.cfg = params
        return True

    @property
    def active(self) -> bool:
        # only stays that have held min_duration: passing traffic must not keep a cleared place "active"
        return any(s.held(self.needs_companion) >= self.cfg.min_duration for s in self.stays)

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        if ctx.tracker is None:
            raise ValueError("dwell needs FrameContext.tracker (stationarity comes from the tracks)")
        now, dets = ctx.ts, ctx.dets
        self._forget(now)
        usable = (dets.score >= self.cfg.min_score) & (dets.track_id >= 0)
        objs = dets[usable & np.isin(dets.class_id, self.class_ids)]
        mates = dets[usable & np.isin(dets.class_id, self.with_ids)]
        near = self._near(objs, mates)
        in_zone = self.area.contains(objs)
        if len(mates):
            # a parasol's box ends in mid-air: its vendor's feet on the ground also place the stall
            in_zone |= (near & self.area.contains(mates)[None, :]).any(axis=1)
        for i in np.flatnonzero(in_zone):
            track = ctx.tracker.tracks.get(int(objs.track_id[i]))
            if track is None:
                continue
            stay = self._stay_for(track, objs.xyxy[i], now)
            stay.label, stay.score = self.class_names[int(objs.class_id[i])], float(objs.score[i])
            stay.box, stay.track_id, stay.last_seen = objs.xyxy[i], track.id, now
            if near[i].any():
                stay.with_since = now if stay.with_since is None else stay.with_since
                stay.with_last = now
                stay.with_seen = seen_objects(mates[near[i]], self.class_names)
            else:
                stay.with_seen = []
        return self._fire(ctx.camera_id, now)

    def _near(self, objs: Detections, mates: Detections) -> np.ndarray:
        """[objects, companions]: the gap between the boxes is within `with_within` object sizes."""
        if len(objs) == 0 or len(mates) == 0:
            return np.zeros((len(objs), len(mates)), dtype=bool)
        a, b = objs.xyxy[:, None, :], mates.xyxy[None, :, :]
        dx = np.clip(np.maximum(a[..., 0], b[..., 0]) - np.minimum(a[..., 2], b[..., 2]), 0, None)
        dy = np.clip(np.maximum(a[..., 1], b[..., 1]) - np.minimum(a[..., 3], b[..., 3]), 0, None)
        size = np.maximum(objs.xyxy[:, 2] - objs.xyxy[:, 0], objs.xyxy[:, 3] - objs.xyxy[:, 1])
        return np.asarray(np.hypot(dx, dy) <= self.cfg.with_within * size[:, None])

    def _stay_for(self, track: Track, box: np.ndarray, now: float) -> _Stay:
        stay = self.by_track.get(track.id)
        if stay is not None and track.still_since > stay.joined[track.id]:
            if _overlap(box, stay.anchor) < SAME_SPOT:
                self._end(stay)  # it left its spot: wherever it stops next is a new stay
                stay = None
            else:  # the tracker saw a jump, but the box is still on the spot: occlusion or jitter
                stay.joined[track.id] = now
        if stay is None:
            stay = self._reacquire(track, box, now)
        if stay is None:
            since = max(track.still_since, self.counts_from)
            stay = _Stay("", 0.0, box, box, track.id, since=since, last_seen=now, joined={})
            self.stays.append(stay)
        stay.joined.setdefault(track.id, now)
        self.by_track[track.id] = stay
        return stay

    def _reacquire(self, track: Track, box: np.ndarray, now: float) -> _Stay | None:
        """A stay not seen in this frame whose last box this track's box overlaps: the same object under a
        new track id (lost longer than the tracker's max_age, or detected as another of the rule's classes).

        Only a track that has not moved since the tracker first saw it qualifies: a vehicle that drove in
        (a bus passing in front of a parked car, the next car of a queue rolling into the spot where the
        previous one was last seen) is another object."""
        if track.still_since != track.first_seen:
            return None
        lost = [s for s in self.stays if s.last_seen < now]
        if not lost:
            return None
        ious = iou_matrix(box[None, :], np.stack([s.box for s in lost]))[0]
        best = int(np.argmax(ious))
        return lost[best] if ious[best] >= REACQUIRE_IOU else None

    def _forget(self, now: float) -> None:
        for stay in [s for s in self.stays if now - s.last_seen > self.cfg.max_gap]:
            self._end(stay)
        for stay in self.stays:
            if stay.with_last is not None and now - stay.with_last > self.cfg.max_gap:
                stay.with_since = stay.with_last = None

    def _end(self, stay: _Stay) -> None:
        self.stays.remove(stay)
        for tid in stay.joined:
            if self.by_track.get(tid) is stay:
                del self.by_track[tid]

    def _fire(self, camera_id: str, now: float) -> RuleEvent | None:
        ready = [
            s
            for s in self.stays
            if s.last_seen == now
            and not s.fired
            and s.held(self.needs_companion) >= self.cfg.min_duration
            and (not self.needs_companion or s.with_last == now)  # the vendor is in the snapshot
        ]
        if not ready or (self.last_fired is not None and now - self.last_fired < self.cfg.cooldown):
            return None  # during cooldown ready stays wait; they fire after it if they still hold
        self.last_fired = now
        objects = []
        for stay in ready:
            stay.fired = True
            objects.append(seen_object(stay.label, stay.score, stay.box, stay.track_id))
        mates = {o.track_id: o for stay in ready for o in stay.with_seen}  # a vendor between two stalls once
        return RuleEvent(
            camera_id=camera_id,
            rule_kind=self.kind,
            event_type=self.event_type,
            zone=self.zone,
            started_at=min(s.started_at() for s in ready),
            detected_at=now,
            count=len(ready),
            confidence=round(sum(s.score for s in ready) / len(ready), 3),
            objects=objects + list(mates.values()),
            zone_polygon=zone_polygon(self.area),
        )
