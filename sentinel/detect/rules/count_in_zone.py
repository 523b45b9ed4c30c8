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

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from sentinel.detect.detections import Detections
from sentinel.detect.rules.base import Episode, FrameContext, RuleEnv, RuleEvent, RuleParams, SeenObject
from sentinel.detect.zones import ZoneArea
from sentinel.fields import Seconds


class CountInZoneParams(RuleParams):
    """Fires when the objects of `classes` in the zone reach the minimums for `min_duration`.

    `min_count` counts all `classes` together (a crowd: `classes: [person]`, `min_count: 10`; a bike pile:
    `classes: [bicycle, motorcycle]`, `min_count: 8`); `min_per_class` sets a minimum for each class
    (`min_per_class: {bicycle: 5, motorcycle: 3}`; `classes` then defaults to its keys). Both set: both hold.
    """

    kind: Literal["count_in_zone"]
    classes: list[str] = Field(default_factory=lambda: ["person"], min_length=1)
    min_count: int | None = Field(default=None, ge=1, description="all `classes` together")
    min_per_class: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict, description="a minimum for each named class"
    )
    min_duration: Seconds = 10.0
    min_score: float = Field(default=0.35, gt=0, lt=1)
    clear_ratio: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="the condition is over once a count drops below ratio × its minimum",
    )

    @model_validator(mode="before")
    @classmethod
    def _classes_from_minimums(cls, data: Any) -> Any:
        # `min_per_class: {bicycle: 5}` alone should not silently keep the default `classes: [person]`
        if isinstance(data, dict) and "classes" not in data and isinstance(data.get("min_per_class"), dict):
            return {**data, "classes": list(data["min_per_class"])}
        return data

    @model_validator(mode="after")
    def _has_minimum(self) -> CountInZoneParams:
        if self.min_count is None and not self.min_per_class:
            raise ValueError("set min_count (all classes together), min_per_class (each class), or both")
        for name in self.min_per_class:
            if name not in self.classes:
                raise ValueError(f"min_per_class names {name!r}, which is not in classes {self.classes}")
        return self


class CountInZone:
    kind = "count_in_zone"
    uses_image = False  # boxes only: the worker need not convert the picture for it

    def __init__(self, cfg: CountInZoneParams, area: ZoneArea, env: RuleEnv) -> None:
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
