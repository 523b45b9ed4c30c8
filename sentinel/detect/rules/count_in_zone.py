"""`count_in_zone`: enough objects of the given classes in a zone, held for `min_duration`
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

How a count must hold. A frame *meets* the rule when every minimum is reached in it. An episode opens on the
first frame that meets it. The rule fires when the episode is `min_duration` old and the count has held over
the last `min_duration`: its `hold_quantile` (default 0.2, the 20th percentile) of the frames' counts is at
least `min_count` -- at most a fifth of the window's frames may fall short. That tolerates a missed detection
in a frame or two (or a passer-by hiding someone), but a momentary peak of 10 that then thins to 6 never
fires, however the count moves around afterwards. The episode ends once no frame has met the rule for
`clear_after` (default: half of `min_duration`, at least 5 s), so a crowd that disperses and forms again is
alerted again (after `cooldown`), and an ongoing crowd is alerted once. `active` is "an episode is open".

The alert's `started_at` is the earliest moment from which the count has held (in the quantile's sense) until
the alert; its `count` is the median count over the last `min_duration` (the typical size of the crowd, not a
one-frame peak or dip); its objects are the counted boxes of the alerting frame (the snapshot's), which is
always a frame that meets the minimums.

Severity: a count of people at or above `urgent_ratio` × `min_count` (default 2: twenty for a crowd of ten)
makes the alert `urgent`; below, it has the event type's severity (crowd_gathering: normal). For other
classes (a bike pile) `urgent_ratio` is unset unless configured, so the event type's severity applies.

`clear_ratio` (the former hysteresis) is refused with a message saying what replaced it.
"""

from __future__ import annotations

from collections import deque
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from sentinel.detect.detections import Detections
from sentinel.detect.rules.base import FrameContext, RuleEnv, RuleEvent, RuleParams, SeenObject
from sentinel.detect.zones import ZoneArea
from sentinel.fields import Seconds

HISTORY_LIMIT = 7200  # frames kept per episode to date `started_at` (2 h at 1 fps); older ones drop out


class CountInZoneParams(RuleParams):
    """Fires when the objects of `classes` in the zone have held the minimums for `min_duration`.

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
    hold_quantile: float = Field(
        default=0.2,
        gt=0,
        le=0.5,
        description="the count holds when this quantile of the counts over the last `min_duration` reaches "
        "the minimums (0.2: at most a fifth of the frames may fall short)",
    )
    clear_after: Seconds | None = Field(
        default=None,
        description="the episode ends when no frame has met the minimums for this long; unset: half of "
        "`min_duration`, at least 5 s",
    )
    urgent_ratio: float | None = Field(
        default=None,
        ge=1,
        description="a count of at least urgent_ratio × min_count makes the alert urgent (else the event "
        "type's severity); unset: 2 when only people are counted, never otherwise",
    )

    @model_validator(mode="before")
    @classmethod
    def _classes_from_minimums(cls, data: Any) -> Any:
        if isinstance(data, dict) and "clear_ratio" in data:
            # refused rather than ignored: a technician who set it expects hysteresis the rule no longer has
            raise ValueError(
                "clear_ratio is no longer used: the count must now hold through min_duration (hold_quantile) "
                "and the episode ends after clear_after seconds below the minimum; remove clear_ratio"
            )
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

    def effective_clear_after(self) -> float:
        return self.clear_after if self.clear_after is not None else max(5.0, self.min_duration / 2)

    def effective_urgent_ratio(self) -> float | None:
        if self.urgent_ratio is not None:
            return self.urgent_ratio
        return 2.0 if self.classes == ["person"] else None


class CountHistory:
    """An episode's frames: time, total count and whether the frame met every minimum (columns on demand).
    `window` keeps the last `span` seconds (the hold test, every frame); `rows` up to HISTORY_LIMIT frames
    (dating the hold's start, only when the window holds)."""

    def __init__(self, span: float) -> None:
        self.span = span
        self.rows: deque[tuple[float, int, bool]] = deque(maxlen=HISTORY_LIMIT)
        self.window: deque[tuple[float, int, bool]] = deque()

    def add(self, ts: float, count: int, meets: bool) -> None:
        self.rows.append((ts, count, meets))
        self.window.append((ts, count, meets))
        while self.window[0][0] < ts - self.span:
            self.window.popleft()

    @staticmethod
    def columns(rows: deque[tuple[float, int, bool]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
        return arr[:, 0], arr[:, 1], arr[:, 2] > 0.5


def held(meets: np.ndarray, quantile: float) -> bool:
    """The `quantile` of the frames' met/unmet (1/0) is 1: fewer than ceil(quantile × n) frames fell short.
    With one minimum this is "the quantile of the counts reaches it"."""
    return (
        len(meets) > 0 and float(np.quantile(meets.astype(np.float64), quantile, method="inverted_cdf")) >= 1
    )


def held_since(ts: np.ndarray, meets: np.ndarray, quantile: float) -> float:
    """The earliest frame that meets the minimums and from which they have held (quantile sense) to the end."""
    n = len(meets)
    short = np.cumsum((~meets)[::-1])[::-1]  # frames falling short from i to the end
    allowed = np.ceil(quantile * (n - np.arange(n))) - 1  # what a window of that length may lose
    ok = np.flatnonzero(meets & (short <= allowed))
    return float(ts[ok[0]]) if len(ok) else float(ts[-1])


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
        self.clear_after = cfg.effective_clear_after()
        self.urgent_ratio = cfg.effective_urgent_ratio()
        self.history = CountHistory(cfg.min_duration)
        self.opened_at: float | None = None  # the episode's first meeting frame
        self.last_met: float | None = None
        self.fired = False  # this episode has alerted
        self.last_fired: float | None = None

    @property
    def active(self) -> bool:
        return self.opened_at is not None

    def retune(self, params: CountInZoneParams) -> bool:
        """New minimums or durations (a profile switch) keep the open episode and its counts: a crowd of 9
        standing since 18:50 alerts at 19:00 when the night profile lowers min_count to 8. Other classes need
        a fresh rule."""
        if params.classes != self.cfg.classes:
            return False
        self.cfg = params
        self.per_class = {self.class_names.index(c): n for c, n in params.min_per_class.items()}
        self.clear_after = params.effective_clear_after()
        self.urgent_ratio = params.effective_urgent_ratio()
        self.history.span = params.min_duration
        return True

    def _meets(self, counted: Detections) -> bool:
        if self.cfg.min_count is not None and len(counted) < self.cfg.min_count:
            return False
        return all(int((counted.class_id == c).sum()) >= n for c, n in self.per_class.items())

    def _track(self, ts: float, count: int, meets: bool) -> None:
        """Open, extend or close the episode with this frame."""
        lapsed = self.last_met is not None and ts - self.last_met >= self.clear_after
        if self.opened_at is not None and not meets and lapsed:
            self.opened_at, self.fired = None, False
            self.history = CountHistory(self.cfg.min_duration)
        if self.opened_at is None and meets:
            self.opened_at = ts
        if meets:
            self.last_met = ts
        if self.opened_at is not None:
            self.history.add(ts, count, meets)

    def _ready(self, ts: float) -> bool:
        if self.opened_at is None or self.fired or ts - self.opened_at < self.cfg.min_duration:
            return False
        return self.last_fired is None or ts - self.last_fired >= self.cfg.cooldown

    def severity(self, count: int) -> Literal["urgent"] | None:
        """`urgent` for a large crowd; None: the event type's own severity."""
        if self.urgent_ratio is None or self.cfg.min_count is None:
            return None
        return "urgent" if count >= self.urgent_ratio * self.cfg.min_count else None

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        camera_id, ts, dets = ctx.camera_id, ctx.ts, ctx.dets
        mask = np.isin(dets.class_id, self.class_ids) & (dets.score >= self.cfg.min_score)
        mask &= self.area.contains(dets)
        counted = dets[mask]
        meets = self._meets(counted)
        self._track(ts, len(counted), meets)
        if not meets or not self._ready(ts):  # the alerting frame shows the crowd (its snapshot, objects)
            return None
        _, counts, window_meets = self.history.columns(self.history.window)
        if not held(window_meets, self.cfg.hold_quantile):
            return None
        # the hold itself must be min_duration old: a window holds while a fifth of it still fell short
        # (a crowd still arriving), and the alert waits until the crowd has stood a full min_duration
        times, _, all_meets = self.history.columns(self.history.rows)
        started_at = max(self.opened_at or ts, held_since(times, all_meets, self.cfg.hold_quantile))
        if ts - started_at < self.cfg.min_duration:
            return None
        self.fired, self.last_fired = True, ts
        typical = int(np.median(counts))
        return RuleEvent(
            camera_id=camera_id,
            rule_kind=self.kind,
            event_type=self.cfg.event_type,
            zone=self.area.name,
            started_at=started_at,
            detected_at=ts,
            count=typical,
            confidence=round(float(counted.score.mean()), 3) if len(counted) else 0.0,
            objects=seen_objects(counted, self.class_names),
            zone_polygon=zone_polygon(self.area),
            severity=self.severity(typical),
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
