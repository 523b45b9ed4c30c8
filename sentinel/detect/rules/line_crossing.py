"""`line_crossing`: objects of the given classes crossing a line segment, in a given direction; fires when
`min_count` crossings fall within `window` (vehicles entering a pedestrian street, people entering a closed
site).

Sides: side A is on your left when you stand on the line's first point facing its second, looking at the
picture as shown (x to the right, y downward). For `line: [[0, 0.5], [1, 0.5]]` A is the upper half and B
the lower half, so `a_to_b` is moving down the picture; for `[[0.5, 0], [0.5, 1]]` A is the right half.
Swap the two points to swap the sides.

Example (under a camera's `rules:` in cameras.yaml):

    - kind: line_crossing
      event_type: vehicle_intrusion    # a site's own type, defined under `event_types:` in sentinel.yaml
      line: [[0.1, 0.6], [0.9, 0.6]]   # across the street entrance; A above it (outside), B below (inside)
      direction: a_to_b                # entering only; b_to_a: leaving only; both: either way
      classes: [car, truck, motorcycle]
      min_count: 3                     # three vehicles ...
      window: 10m                      # ... within ten minutes
      cooldown: 30m
      analyze_fps: 2                   # the camera analysed at least this fast while the rule is armed

An object's position is the bottom-centre of its box (where it stands, as for zones). Each track counts
once: an object lingering on the line, its box jittering back and forth, is one crossing. With `zone`,
only objects standing in the zone count. Crossings in an alert are spent: the next alert needs
`min_count` new ones, and not before `cooldown`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from sentinel.detect.rules.base import FrameContext, RuleEnv, RuleEvent, RuleParams, SeenObject
from sentinel.detect.rules.count_in_zone import seen_object, zone_polygon
from sentinel.detect.zones import ZoneArea
from sentinel.fields import Point, PositiveSeconds

# How long a track's last side is remembered without a sighting. The tracker drops a track after its
# max_age (seconds) and never reuses ids, so this only bounds memory.
FORGET_AFTER = 60.0

Side = int  # -1: side A, +1: side B


class LineCrossingParams(RuleParams):
    """Objects of `classes` crossing the line from side A to side B (or either way).

    Side A is on your left when you stand on the line's first point facing its second, looking at the
    picture as shown (y grows downward): for [[0, 0.5], [1, 0.5]], A is the upper half."""

    kind: Literal["line_crossing"]
    line: tuple[Point, Point] = Field(description="[[x1, y1], [x2, y2]] normalised")
    direction: Literal["a_to_b", "b_to_a", "both"] = "both"
    classes: list[str] = Field(default_factory=lambda: ["person"], min_length=1)
    min_count: int = Field(default=1, ge=1)
    window: PositiveSeconds = Field(default=60.0, description="count crossings within this sliding window")
    min_score: float = Field(default=0.35, gt=0, lt=1)
    analyze_fps: float | None = Field(
        default=None,
        gt=0,
        le=30,
        description="the camera is analysed at least this fast while the rule is armed (a walker crosses a "
        "line in a second or two); unset: the camera's rate",
    )

    @field_validator("line", mode="before")
    @classmethod
    def _two_points(cls, v: Any) -> Any:
        if isinstance(v, list | tuple) and len(v) != 2:
            raise ValueError(f"a line is two points [[x1, y1], [x2, y2]], got {len(v)}")
        return v

    @field_validator("line")
    @classmethod
    def _valid_line(cls, line: tuple[Point, Point]) -> tuple[Point, Point]:
        for x, y in line:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point [{x}, {y}] is outside the image (coordinates are normalised 0..1)")
        (x1, y1), (x2, y2) = line
        if ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5 < 0.01:
            raise ValueError("the line has (almost) zero length: its two points must differ")
        return line


@dataclass
class _Trail:
    side: Side  # the last side the object was seen on (never "on the line")
    point: tuple[float, float]  # where it was then
    seen: float
    counted: bool = False


@dataclass(frozen=True)
class _Crossing:
    ts: float
    obj: SeenObject


class LineCrossing:
    kind = "line_crossing"
    uses_image = False  # boxes only: the worker need not convert the picture for it

    def __init__(self, cfg: LineCrossingParams, area: ZoneArea, env: RuleEnv) -> None:
        names = env.class_names
        unknown = [c for c in cfg.classes if c not in names]
        if unknown:
            raise ValueError(f"line_crossing: the model has no class {unknown[0]!r}")
        self.cfg = cfg
        self.area = area
        self.class_names = names
        self.class_ids = np.array([names.index(c) for c in cfg.classes], dtype=np.int64)
        self.event_type = cfg.event_type
        self.zone = area.name
        self.wanted_fps = cfg.analyze_fps  # the pipeline's adaptive rate never goes below it while armed
        self.a, self.b = cfg.line
        self.wanted: set[Side] = {"a_to_b": {1}, "b_to_a": {-1}, "both": {-1, 1}}[cfg.direction]
        self.trails: dict[int, _Trail] = {}
        self.crossings: deque[_Crossing] = deque()  # within the window, newest last
        self.spent_until = float("-inf")  # crossings up to here went into an alert
        self.last_fired: float | None = None

    @property
    def active(self) -> bool:
        return len(self.crossings) >= self.cfg.min_count

    def side(self, x: float, y: float) -> Side | None:
        """-1 for side A, +1 for side B, None exactly on the (infinite) line."""
        (ax, ay), (bx, by) = self.a, self.b
        cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
        # y grows downward, so a negative cross product is on the left of a→b as the picture is seen
        return None if cross == 0 else (-1 if cross < 0 else 1)

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        now, dets = ctx.ts, ctx.dets
        mask = np.isin(dets.class_id, self.class_ids) & (dets.score >= self.cfg.min_score)
        mask &= (dets.track_id >= 0) & self.area.contains(dets)
        objs = dets[mask]
        for (x, y), tid, box, score, cls in zip(
            objs.bottom_centres().tolist(), objs.track_id, objs.xyxy, objs.score, objs.class_id, strict=True
        ):
            side = self.side(x, y)
            if side is None:
                continue  # on the line: wait until it is clearly on one side
            trail = self.trails.get(int(tid))
            if trail is None:
                self.trails[int(tid)] = _Trail(side, (x, y), now)
                continue
            crossed = side != trail.side and self._through_segment(trail.point, (x, y))
            if crossed and side in self.wanted and not trail.counted:
                trail.counted = True
                obj = seen_object(self.class_names[int(cls)], score, box, int(tid))
                self.crossings.append(_Crossing(now, obj))
            trail.side, trail.point, trail.seen = side, (x, y), now
        self._forget(now)
        return self._fire(ctx.camera_id, now)

    def _through_segment(self, p: tuple[float, float], q: tuple[float, float]) -> bool:
        """p and q lie on opposite sides of the line; does p→q pass between its two end points (not
        around them, beyond the segment)?"""
        (px, py), (qx, qy) = p, q

        def orient(x: float, y: float) -> float:
            return (qx - px) * (y - py) - (qy - py) * (x - px)

        return orient(*self.a) * orient(*self.b) <= 0

    def _forget(self, now: float) -> None:
        while self.crossings and now - self.crossings[0].ts > self.cfg.window:
            self.crossings.popleft()
        for tid in [t for t, trail in self.trails.items() if now - trail.seen > FORGET_AFTER]:
            del self.trails[tid]

    def _fire(self, camera_id: str, now: float) -> RuleEvent | None:
        fresh = [c for c in self.crossings if c.ts > self.spent_until]
        if len(fresh) < self.cfg.min_count:
            return None
        if self.last_fired is not None and now - self.last_fired < self.cfg.cooldown:
            return None
        self.last_fired, self.spent_until = now, now
        return RuleEvent(
            camera_id=camera_id,
            rule_kind=self.kind,
            event_type=self.event_type,
            zone=self.zone,
            started_at=fresh[0].ts,
            detected_at=now,
            count=len(fresh),
            confidence=round(sum(c.obj.score for c in fresh) / len(fresh), 3),
            objects=[c.obj for c in fresh],
            zone_polygon=zone_polygon(self.area),
        )
