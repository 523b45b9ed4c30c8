"""`stationary_count`: at least `min_count` objects of the given classes, each standing still in the zone for
`min_duration`, at the same time -- parked bicycles and e-bikes (非机动车乱停放), a pile of shared bikes
(共享单车乱象). Unlike `count_in_zone`, cyclists riding through are never counted; unlike `dwell`, one
alert covers the whole pile, not one per bike.

Examples (under a camera's `rules:` in cameras.yaml):

    - kind: stationary_count           # 非机动车乱停放 (COCO has no e-bike: it detects them as motorcycle)
      event_type: nonmotor_parking
      zone: no_parking
      classes: [bicycle, motorcycle]
      min_count: 2                     # two or more parked at once
      min_duration: 5m                 # each standing still this long
    - kind: stationary_count           # 共享单车乱象: a pile of bikes where people walk
      event_type: shared_bike_pile
      zone: pavement
      classes: [bicycle]
      min_count: 5
      min_duration: 10m

Each parked object is a *stay* as `dwell` keeps it (the same bookkeeping, run inside this rule): a detector
miss or a new track id on the same spot is the same bike, a bike unseen for `max_gap` is gone. A frame
*meets* the rule when at least `min_count` stays have stood still `min_duration`. The rule fires on the first
meeting frame (after `cooldown` since the last alert) and not again while the pile stays; the episode ends
once no frame has met the rule for `clear_after`, so a pile cleared and formed again is alerted again.
`started_at` is when the `min_count`-th of the counted bikes stopped (the pile as large as the minimum);
the alert's objects are the counted bikes seen in the alerting frame (a bike the detector missed in that
frame, but saw within `max_gap`, is counted and not listed).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sentinel.detect.rules.base import Episode, FrameContext, RuleEnv, RuleEvent, RuleParams
from sentinel.detect.rules.count_in_zone import seen_object, zone_polygon
from sentinel.detect.rules.dwell import Dwell, DwellParams
from sentinel.detect.zones import ZoneArea
from sentinel.fields import Seconds


class StationaryCountParams(RuleParams):
    """Fires when at least `min_count` objects of `classes` have each stood still in the zone for
    `min_duration` at once."""

    kind: Literal["stationary_count"]
    classes: list[str] = Field(min_length=1)
    min_count: int = Field(default=2, ge=1, description="objects standing still at once")
    min_duration: Seconds = 300.0
    min_score: float = Field(default=0.35, gt=0, lt=1)
    max_gap: Seconds = Field(
        default=30.0,
        description="an object unseen up to this long (missed, occluded) and back in place is the same one",
    )
    clear_after: Seconds = Field(
        default=60.0, description="the episode ends when no frame has met the minimum for this long"
    )


class StationaryCount:
    kind = "stationary_count"
    uses_image = False  # boxes only

    def __init__(self, cfg: StationaryCountParams, area: ZoneArea, env: RuleEnv) -> None:
        self.cfg = cfg
        self.event_type = cfg.event_type
        self.zone = area.name
        self.area = area
        # dwell's stays (one per parked object, across track ids); its own alerts are not used
        stays_cfg = DwellParams(
            kind="dwell",
            event_type=cfg.event_type,
            zone=cfg.zone,
            classes=cfg.classes,
            min_duration=cfg.min_duration,
            min_score=cfg.min_score,
            max_gap=cfg.max_gap,
        )
        try:
            self.stays = Dwell(stays_cfg, area, env)
        except ValueError as exc:
            raise ValueError(str(exc).replace("dwell:", "stationary_count:")) from exc
        self.episode = Episode(min_duration=0.0, cooldown=cfg.cooldown, clear_after=cfg.clear_after)

    @property
    def active(self) -> bool:
        return self.episode.started_at is not None

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        now = ctx.ts
        self.stays.evaluate(ctx)
        parked = [s for s in self.stays.stays if s.held(False) >= self.cfg.min_duration]
        meets = len(parked) >= self.cfg.min_count
        seen = [s for s in parked if s.last_seen == now]
        # fire on a frame that shows some of the pile (its snapshot); bikes missed for a few frames still count
        if not self.episode.update(now, meets and bool(seen), meets):
            return None
        stopped = sorted(s.since for s in parked)
        return RuleEvent(
            camera_id=ctx.camera_id,
            rule_kind=self.kind,
            event_type=self.event_type,
            zone=self.zone,
            started_at=stopped[self.cfg.min_count - 1],
            detected_at=now,
            count=len(parked),
            confidence=round(sum(s.score for s in seen) / len(seen), 3),
            objects=[seen_object(s.label, s.score, s.box, s.track_id) for s in seen],
            zone_polygon=zone_polygon(self.area),
        )
