"""`count_in_zone`: enough objects of the given classes in a zone for `min_duration`
(crowd gathering 人员聚集; bicycle and e-bike piles 非机动车乱停放).

Examples (under a camera's `rules:` in cameras.yaml):

    - kind: count_in_zone              # 人员聚集: ten or more people for a minute
      event_type: crowd_gathering
      zone: plaza
      classes: [person]
      min_count: 10
      min_duration: 1m
    - kind: count_in_zone              # bike pile: bicycles and e-bikes (COCO: motorcycle) counted together
      event_type: nonmotor_parking
      zone: pavement
      classes: [bicycle, motorcycle]
      min_count: 8
      min_duration: 10m
    - kind: count_in_zone              # a minimum for each class (classes default to the keys)
      event_type: nonmotor_parking
      zone: pavement
      min_per_class: {bicycle: 5, motorcycle: 3}
      min_duration: 10m
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sentinel.config.models import CountInZoneRule
from sentinel.detect.detections import Detections
from sentinel.detect.rules.base import Episode, FrameContext, RuleEvent, SeenObject
from sentinel.detect.zones import ZoneArea

if TYPE_CHECKING:
    from sentinel.detect.rules import RuleEnv


class CountInZone:
    kind = "count_in_zone"
    uses_image = False  # boxes only: the worker need not convert the picture for it

    def __init__(self, cfg: CountInZoneRule, area: ZoneArea, env: RuleEnv) -> None:
        class_names = env.class_names
        unknown = [c for c in cfg.classes if c not in class_names]
        if unknown:
            raise ValueError(f"count_in_zone: the model has no class {unknown[0]!r}")
        self.cfg = cfg
        self.area = area
        self.class_names = class_names
        self.class_ids = np.array([class_names.index(c) for c in cfg.classes])
        self.per_class = {class_names.index(c): n for c, n in cfg.min_per_class.items()}
        self.event_type = cfg.event_type
        self.zone = area.name
        self.episode = Episode(cfg.min_duration, cfg.cooldown, clear_after=max(5.0, cfg.min_duration / 2))

    @property
    def active(self) -> bool:
        return self.episode.started_at is not None

    def _meets(self, counted: Detections, ratio: float) -> bool:
        """Every configured minimum, scaled by `ratio` (1 to start an episode, clear_ratio to keep it)."""
        if self.cfg.min_count is not None and len(counted) < ratio * self.cfg.min_count:
            return False
        return all(int((counted.class_id == c).sum()) >= ratio * n for c, n in self.per_class.items())

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        camera_id, ts, dets = ctx.camera_id, ctx.ts, ctx.dets
        mask = np.isin(dets.class_id, self.class_ids) & (dets.score >= self.cfg.min_score)
        mask &= self.area.contains(dets)
        counted = dets[mask]
        holding = self._meets(counted, 1.0)
        sustaining = self._meets(counted, self.cfg.clear_ratio)
        if not self.episode.update(ts, holding, sustaining):
            return None
        assert self.episode.started_at is not None
        return RuleEvent(
            camera_id=camera_id,
            rule_kind=self.kind,
            event_type=self.cfg.event_type,
            zone=self.area.name,
            started_at=self.episode.started_at,
            detected_at=ts,
            count=len(counted),
            confidence=round(float(counted.score.mean()), 3),
            objects=seen_objects(counted, self.class_names),
            zone_polygon=zone_polygon(self.area),
        )


# Shared by the other detection rules (dwell, line_crossing): how an event names its objects and zone.


def seen_object(label: str, score: float, box: np.ndarray, track_id: int) -> SeenObject:
    x1, y1, x2, y2 = (round(float(v), 4) for v in box)
    return SeenObject(label, round(float(score), 3), (x1, y1, x2, y2), int(track_id))


def seen_objects(dets: Detections, class_names: list[str]) -> list[SeenObject]:
    return [
        seen_object(class_names[int(c)], s, b, t)
        for b, s, c, t in zip(dets.xyxy, dets.score, dets.class_id, dets.track_id, strict=True)
    ]


def zone_polygon(area: ZoneArea) -> list[tuple[float, float]] | None:
    if area.points is None:
        return None
    return [(float(x), float(y)) for x, y in area.points.tolist()]
