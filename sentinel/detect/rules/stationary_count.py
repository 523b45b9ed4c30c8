"""`stationary_count`: at least `min_count` parked objects of the given classes in a zone, held for
`min_duration` -- parked bicycles and e-bikes (非机动车乱停放), a pile of shared bikes (共享单车乱象).
Unlike `count_in_zone`, cyclists riding through are never counted; unlike `dwell`, one alert covers the
whole pile, not one per bike.

Examples (under a camera's `rules:` in cameras.yaml):

    - kind: stationary_count           # 非机动车乱停放 (COCO has no e-bike: it detects them as motorcycle)
      event_type: nonmotor_parking
      zone: no_parking
      classes: [bicycle, motorcycle]
      min_count: 2                     # two or more parked at once
      min_duration: 5m
    - kind: stationary_count           # 共享单车乱象: a pile of bikes where people walk
      event_type: shared_bike_pile
      zone: pavement
      classes: [bicycle]
      min_count: 5
      min_duration: 10m

Why not the tracker's stationarity (as `dwell` has it): in a pile the detector's boxes jitter, split and merge
(one box around two neighbours, two boxes on one bike) from frame to frame, so track ids and their
stillness restart all the time and a pile of six never shows five tracks that stood still for minutes. Here a
box counts as *parked* when boxes of the classes have been at its place (IoU >= 0.3) in at least
`still_share` of the frames over the last `still_for` seconds: a bike standing there, however its box
jitters; a rider crosses a place in a frame or two. The parked boxes are counted as places (a box mostly
covered by better-scored parked boxes, or overlapping one, is the same bikes again); a place counted before
and missed by the detector in this frame still counts while it stays occupied in `still_share` of the window.

A frame *meets* the rule when it shows at least `min_count` parked places. The episode opens on the first
meeting frame, backdated to when the `min_count`-th of its boxes' places was first occupied within the
window (a box needs `still_share` x `still_for` to count as parked: the objects were there before), stays open through frames that fall short for up to `clear_after`, and
fires once, on a meeting frame, when it is `min_duration` old; after `cooldown` a new episode may fire
again (a pile cleared for `clear_after` and formed again). `started_at` is the backdated opening; the
alert's objects are the counted boxes of the alerting frame.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import numpy as np
from pydantic import Field

from sentinel.detect.detections import Detections
from sentinel.detect.rules.base import Episode, FrameContext, RuleEnv, RuleEvent, RuleParams
from sentinel.detect.rules.count_in_zone import seen_objects, zone_polygon
from sentinel.detect.tracker import iou_matrix
from sentinel.detect.zones import ZoneArea
from sentinel.fields import Seconds

SAME_PLACE_IOU = 0.3  # a box of an earlier frame at this IoU or more was at the same place
SAME_BIKES_IOU = 0.4  # two parked boxes overlapping this much are one place (the same bike, twice)
COVERED = 0.6  # a parked box this much covered by better-scored parked boxes holds no bike of its own


class StationaryCountParams(RuleParams):
    """Fires when at least `min_count` objects of `classes` have stayed parked in the zone for
    `min_duration`."""

    kind: Literal["stationary_count"]
    classes: list[str] = Field(min_length=1)
    min_count: int = Field(default=2, ge=1, description="parked objects at once")
    min_duration: Seconds = 300.0
    min_score: float = Field(default=0.35, gt=0, lt=1)
    still_for: Seconds = Field(
        default=30.0, gt=0, description="a box is parked when its place was occupied over this window ..."
    )
    still_share: float = Field(
        default=0.6, gt=0, le=1, description="... in at least this share of its frames"
    )
    clear_after: Seconds = Field(
        default=60.0, description="the episode ends when no frame has met the minimum for this long"
    )


def _concat(a: Detections, b: Detections) -> Detections:
    return Detections(
        np.concatenate([a.xyxy, b.xyxy]).astype(np.float32),
        np.concatenate([a.score, b.score]).astype(np.float32),
        np.concatenate([a.class_id, b.class_id]).astype(np.int32),
        np.concatenate([a.track_id, b.track_id]).astype(np.int64),
    )


def covered_share(box: np.ndarray, kept: list[np.ndarray]) -> float:
    """The share of `box`'s area inside the kept boxes (overlaps among them counted once, on a grid)."""
    if not kept:
        return 0.0
    xs = np.linspace(box[0], box[2], 12)
    ys = np.linspace(box[1], box[3], 12)
    gx, gy = np.meshgrid(xs, ys)
    inside = np.zeros(gx.shape, dtype=bool)
    for k in kept:
        inside |= (gx >= k[0]) & (gx <= k[2]) & (gy >= k[1]) & (gy <= k[3])
    return float(inside.mean())


class StationaryCount:
    kind = "stationary_count"
    uses_image = False  # boxes only

    def __init__(self, cfg: StationaryCountParams, area: ZoneArea, env: RuleEnv) -> None:
        names = env.class_names
        unknown = [c for c in cfg.classes if c not in names]
        if unknown:
            raise ValueError(f"stationary_count: the model has no class {unknown[0]!r}")
        self.cfg = cfg
        self.event_type = cfg.event_type
        self.zone = area.name
        self.area = area
        self.class_names = names
        self.class_ids = np.array([names.index(c) for c in cfg.classes], dtype=np.int64)
        self.recent: deque[tuple[float, np.ndarray]] = deque()  # (ts, boxes of the classes in the zone)
        self.places = Detections.empty()  # the parked places counted in the last frame
        self.episode = Episode(cfg.min_duration, cfg.cooldown, cfg.clear_after)

    @property
    def active(self) -> bool:
        return self.episode.started_at is not None

    def parked(self, ts: float, boxes: Detections) -> tuple[Detections, float]:
        """The parked places (see the module doc) as boxes: this frame's, and those counted before that this
        frame missed while their place stays occupied; and since when the `min_count`-th of them has been
        at its place (within the window)."""
        while self.recent and self.recent[0][0] < ts - self.cfg.still_for:
            self.recent.popleft()
        self.recent.append((ts, boxes.xyxy.copy()))
        window = list(self.recent)
        if ts - window[0][0] < self.cfg.still_share * self.cfg.still_for:
            return self.places[np.zeros(len(self.places), dtype=bool)], ts  # too short a history yet
        missed = np.ones(len(self.places), dtype=bool)
        if len(self.places) and len(boxes):  # places seen again in this frame: their new box stands
            missed = iou_matrix(self.places.xyxy, boxes.xyxy).max(axis=1) < SAME_PLACE_IOU
        candidates = _concat(boxes, self.places[missed])
        if not len(candidates):
            self.places = candidates
            return candidates, ts
        seen = np.zeros(len(candidates))
        first = np.full(len(candidates), ts)
        for at, earlier in window:
            if len(earlier):
                hit = iou_matrix(candidates.xyxy, earlier).max(axis=1) >= SAME_PLACE_IOU
                seen += hit
                first = np.where(hit, np.minimum(first, at), first)
        still = seen / len(window) >= self.cfg.still_share
        kept: list[int] = []
        for i in sorted(np.flatnonzero(still), key=lambda i: (i >= len(boxes), -float(candidates.score[i]))):
            box = candidates.xyxy[i]
            if kept and iou_matrix(box[None, :], candidates.xyxy[kept]).max() >= SAME_BIKES_IOU:
                continue
            if covered_share(box, [candidates.xyxy[k] for k in kept]) >= COVERED:
                continue
            kept.append(int(i))
        self.places = candidates[np.isin(np.arange(len(candidates)), kept)]
        if len(kept) < self.cfg.min_count:
            return self.places, ts
        return self.places, float(np.sort(first[kept])[self.cfg.min_count - 1])

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        now, dets = ctx.ts, ctx.dets
        mask = np.isin(dets.class_id, self.class_ids) & (dets.score >= self.cfg.min_score)
        boxes = dets[mask & self.area.contains(dets)]
        counted, since = self.parked(now, boxes)
        meets = len(counted) >= self.cfg.min_count
        if not self.episode.update(now, meets, meets, since=since if meets else None):
            return None
        return RuleEvent(
            camera_id=ctx.camera_id,
            rule_kind=self.kind,
            event_type=self.event_type,
            zone=self.zone,
            started_at=self.episode.started_at if self.episode.started_at is not None else now,
            detected_at=now,
            count=len(counted),
            confidence=round(float(counted.score.mean()), 3),
            objects=seen_objects(counted, self.class_names),
            zone_polygon=zone_polygon(self.area),
        )
