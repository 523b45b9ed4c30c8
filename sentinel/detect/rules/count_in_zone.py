"""`count_in_zone`: at least `min_count` objects of the given classes in a zone for `min_duration`
(crowd gathering 人员聚集; bicycle and e-bike piles)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sentinel.config import CountInZoneRule
from sentinel.detect.rules.base import Episode, FrameContext, RuleEvent, SeenObject
from sentinel.detect.zones import ZoneArea

if TYPE_CHECKING:
    from sentinel.detect.rules import RuleEnv


class CountInZone:
    kind = "count_in_zone"

    def __init__(self, cfg: CountInZoneRule, area: ZoneArea, env: RuleEnv) -> None:
        class_names = env.class_names
        unknown = [c for c in cfg.classes if c not in class_names]
        if unknown:
            raise ValueError(f"count_in_zone: the model has no class {unknown[0]!r}")
        self.cfg = cfg
        self.area = area
        self.class_names = class_names
        self.class_ids = np.array([class_names.index(c) for c in cfg.classes])
        self.event_type = cfg.event_type
        self.zone = area.name
        self.episode = Episode(cfg.min_duration, cfg.cooldown, clear_after=max(5.0, cfg.min_duration / 2))

    @property
    def active(self) -> bool:
        return self.episode.started_at is not None

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        camera_id, ts, dets = ctx.camera_id, ctx.ts, ctx.dets
        mask = np.isin(dets.class_id, self.class_ids) & (dets.score >= self.cfg.min_score)
        mask &= self.area.contains(dets)
        counted = dets[mask]
        count = len(counted)
        holding = count >= self.cfg.min_count
        sustaining = count >= self.cfg.clear_ratio * self.cfg.min_count
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
            count=count,
            confidence=round(float(counted.score.mean()), 3),
            objects=[
                SeenObject(
                    self.class_names[int(c)],
                    round(float(s), 3),
                    (
                        round(float(b[0]), 4),
                        round(float(b[1]), 4),
                        round(float(b[2]), 4),
                        round(float(b[3]), 4),
                    ),
                    int(t),
                )
                for b, s, c, t in zip(
                    counted.xyxy, counted.score, counted.class_id, counted.track_id, strict=True
                )
            ],
            zone_polygon=[tuple(p) for p in self.area.points.tolist()]
            if self.area.points is not None
            else None,
        )
