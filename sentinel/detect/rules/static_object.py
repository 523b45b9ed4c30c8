"""`static_object`: something new that stays in a zone — dumped rubbish 暴露垃圾, debris 积存垃圾渣土, piled
materials 乱堆物料. COCO has no "garbage" class, so this works on the image: static-foreground blobs of the
camera's slow background model (`sentinel.detect.background`), not explained by a detected person or vehicle,
that persist `min_duration`. Each blob is reported once (tracked and deduplicated by overlap), with cooldown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from sentinel.detect.background import BackgroundModel, StaticBlobs
from sentinel.detect.image_structure import boxes_mask, polygon_mask
from sentinel.detect.rules.base import FrameContext, RuleEnv, RuleEvent, RuleParams, SeenObject
from sentinel.detect.tracker import iou_matrix
from sentinel.detect.zones import ZoneArea
from sentinel.fields import PositiveSeconds, Seconds

MAX_EXPLAINED = 0.25  # a blob covered by a person/vehicle box in more than this share of frames is theirs
SAME_BLOB = 0.3  # overlap (max of IoU and intersection over the smaller box) that makes two boxes one blob
WATCH_FLOOR = 8.0  # s: the least a static blob is watched (its explained share judged) before it fires


class BackgroundRuleParams(RuleParams):
    """The fields of a rule that finds new static foreground with the slow dual background (`static_object`,
    `posted_text`): what is not scene, and the background's time constants."""

    ignore_classes: list[str] = Field(
        default_factory=lambda: ["person", "bicycle", "car", "motorcycle", "bus", "truck"]
    )
    settle_time: PositiveSeconds = Field(
        default=30.0, description="something must stay still about this long to count as static"
    )
    learn_time: PositiveSeconds = Field(
        default=1800.0, description="time constant of the long-term background (how fast the scene is learnt)"
    )
    min_contrast: float = Field(
        default=20.0, ge=2, le=255, description="colour difference (0-255) from the background that counts"
    )

    @model_validator(mode="after")
    def _time_constants(self) -> BackgroundRuleParams:
        if self.learn_time < 10 * self.settle_time:
            raise ValueError("learn_time must be at least 10 x settle_time")
        return self


class StaticObjectParams(BackgroundRuleParams):
    """New static foreground (not explained by a detected person/vehicle) persisting `min_duration` in the zone."""

    kind: Literal["static_object"]
    min_duration: Seconds = 300.0
    min_area: float = Field(default=0.002, gt=0, lt=1, description="fraction of the frame")


@dataclass
class Candidate:
    """A static blob followed over frames."""

    box: np.ndarray  # normalised xyxy
    first_seen: float  # when it appeared against the long-term background (before it was seen as static)
    last_seen: float
    created: float  # when it was first seen as static
    frames: int = 0
    explained: int = 0
    contrast: float = 0.0
    fired: bool = False
    held: bool = False  # fired in an earlier window (or while disarmed): kept out of the background

    @property
    def explained_ratio(self) -> float:
        return self.explained / max(self.frames, 1)

    @property
    def score(self) -> float:
        """Confidence: how far above the threshold it stands out, less the share of frames it was explained."""
        clear = 1.0 - 1.0 / max(self.contrast, 1.0)
        return round(float(np.clip(clear * (1.0 - self.explained_ratio), 0.05, 0.99)), 3)


def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[len(a), len(b)]: max(IoU, intersection / smaller area) of normalised xyxy boxes."""
    iou = iou_matrix(a, b)
    if iou.size == 0:
        return iou
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    inter = iou * (area_a[:, None] + area_b[None, :]) / (1.0 + iou)
    return np.maximum(iou, inter / np.maximum(np.minimum(area_a[:, None], area_b[None, :]), 1e-9))


def _box(b: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (round(float(v), 4) for v in b)
    return (x1, y1, x2, y2)


class StaticObject:
    kind = "static_object"
    uses_image = True  # the analysis picture (`FrameContext.image`), on every frame
    # While its schedule disarms it the rule keeps learning (alerts dropped): frozen for the night, the
    # background would meet the morning's light as change; a blob that qualified meanwhile is held out of
    # it (as a fired one is), so rubbish dumped at 23:00 is not learnt as scene by a 07:00 arming.
    learns_while_disarmed = True

    def __init__(self, cfg: StaticObjectParams, area: ZoneArea, env: RuleEnv) -> None:
        names = env.class_names
        unknown = [c for c in cfg.ignore_classes if c not in names]
        if unknown and "ignore_classes" in cfg.model_fields_set:
            raise ValueError(f"static_object: the model has no class {unknown[0]!r}")
        self.cfg = cfg
        self.area = area
        self.event_type = cfg.event_type
        self.zone = area.name
        self.ignore_ids = np.array([names.index(c) for c in cfg.ignore_classes if c in names], dtype=np.int64)
        self.model = BackgroundModel(
            learn_time=cfg.learn_time, settle_time=cfg.settle_time, min_contrast=cfg.min_contrast
        )
        self.max_gap = max(2.0 * cfg.settle_time, 20.0)  # a blob unseen this long (occluded, gone) is dropped
        self.memory = max(
            cfg.cooldown, cfg.learn_time / 2
        )  # an alerted blob that returns within this is not new
        self.watch = min(cfg.settle_time, cfg.min_duration)
        self.candidates: list[Candidate] = []
        self.reported: list[tuple[np.ndarray, float]] = []  # (box, forget after): blobs already alerted
        self.last_fired: float | None = None
        self._zone_mask: np.ndarray | None = None
        self._now = 0.0
        self.counts_from = float("-inf")  # a blob counts from here at the earliest: the schedule's arming

    def rearm(self, ts: float) -> None:
        """Armed again by the schedule: every blob still there is judged afresh, counted from `ts` (held out
        of the background meanwhile if it had qualified); the alerts and memory of before are dropped."""
        for c in self.candidates:
            c.held, c.fired = c.held or c.fired, False
            c.first_seen, c.created = max(c.first_seen, ts), max(c.created, ts)
        self.reported, self.last_fired = [], None
        self.counts_from = ts

    def retune(self, params: StaticObjectParams) -> bool:
        """Thresholds and durations change in place; a new background model (learn_time, settle_time,
        min_contrast) or other ignored classes need a fresh rule."""
        same = ("learn_time", "settle_time", "min_contrast", "ignore_classes")
        if any(getattr(params, k) != getattr(self.cfg, k) for k in same):
            return False
        self.cfg = params
        self.memory = max(params.cooldown, params.learn_time / 2)
        self.watch = min(params.settle_time, params.min_duration)
        return True

    @property
    def active(self) -> bool:
        """A reported (or reportable) blob is still there."""
        return any(c.fired or self._qualifies(c, self._now) for c in self.candidates)

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        if ctx.image is None:
            return None
        ts = self._now = ctx.ts
        hold = [c.box for c in self.candidates if c.fired or c.held]
        blobs = self.model.update(ctx.image, ts, np.array(hold) if hold else None)
        if blobs is None:
            return None
        self._track(blobs, ctx, ts)
        due = [c for c in self.candidates if not c.fired and self._qualifies(c, ts)]
        if not due or (self.last_fired is not None and ts - self.last_fired < self.cfg.cooldown):
            return None
        for c in due:
            c.fired = True
        self.last_fired = ts
        return RuleEvent(
            camera_id=ctx.camera_id,
            rule_kind=self.kind,
            event_type=self.event_type,
            zone=self.zone,
            started_at=min(c.first_seen for c in due),
            detected_at=ts,
            count=len(due),
            confidence=max(c.score for c in due),
            objects=[SeenObject("static_object", c.score, _box(c.box)) for c in due],
            zone_polygon=[tuple(p) for p in self.area.points.tolist()]
            if self.area.points is not None
            else None,
        )

    def _qualifies(self, c: Candidate, ts: float) -> bool:
        return (
            c.last_seen >= ts - self.max_gap
            and c.last_seen - c.first_seen >= self.cfg.min_duration
            and c.last_seen - c.created
            >= self._watch(c)  # seen as static long enough to judge who explains it
            and c.frames >= 3
            and c.explained_ratio <= MAX_EXPLAINED
        )

    def _watch(self, c: Candidate) -> float:
        """How long a blob must be seen as static before it may fire. The background model only calls it static
        about 2 x settle_time after it appeared, so with a short min_duration a full settle_time of watching
        would push the alert past min_duration + 10 s: then a shorter watch (WATCH_FLOOR) does."""
        due_in = c.first_seen + self.cfg.min_duration - c.created
        return min(self.watch, max(due_in, WATCH_FLOOR))

    def _track(self, blobs: StaticBlobs, ctx: FrameContext, ts: float) -> None:
        labels = blobs.labels
        shape = (labels.shape[0], labels.shape[1])
        if self._zone_mask is None or self._zone_mask.shape != shape:
            self._zone_mask = polygon_mask(self.area.points, shape)
        n = len(blobs)
        in_zone = np.bincount(labels[self._zone_mask], minlength=n + 1)[1:]
        dets = ctx.dets
        people = dets.xyxy[np.isin(dets.class_id, self.ignore_ids)]
        covered = np.bincount(labels[boxes_mask(people, shape, grow=0.15)], minlength=n + 1)[1:]
        keep = (in_zone >= self.cfg.min_area * shape[0] * shape[1]) & blobs.added
        boxes, explained, contrast, appeared = (
            blobs.boxes[keep],
            (covered >= 0.5 * blobs.areas)[keep],
            blobs.contrast[keep],
            blobs.appeared[keep],
        )

        gone = [c for c in self.candidates if ts - c.last_seen > self.max_gap]
        self.candidates = [c for c in self.candidates if ts - c.last_seen <= self.max_gap]
        # an alerted blob is remembered a while after it was last seen: back in that time, it is not new
        self.reported = [(b, until) for b, until in self.reported if until > ts]
        self.reported += [(c.box, c.last_seen + self.memory) for c in gone if c.fired]
        seen: dict[int, list[int]] = {}
        cand_boxes = np.array([c.box for c in self.candidates], dtype=np.float32).reshape(-1, 4)
        match = overlap(boxes, cand_boxes)
        for i in range(len(boxes)):
            j = int(match[i].argmax()) if match.shape[1] else -1
            if j >= 0 and match[i, j] >= SAME_BLOB:
                seen.setdefault(j, []).append(i)
            else:
                self.candidates.append(self._new(boxes[i], min(float(appeared[i]), ts), ts))
                seen[len(self.candidates) - 1] = [i]
        for j, rows in seen.items():
            c = self.candidates[j]
            c.box = np.concatenate([boxes[rows, :2].min(axis=0), boxes[rows, 2:].max(axis=0)])
            c.last_seen = ts
            c.frames += 1
            c.explained += int(explained[rows].any())
            c.contrast = float(contrast[rows].max())

    def _new(self, box: np.ndarray, appeared: float, ts: float) -> Candidate:
        c = Candidate(box.copy(), max(appeared, self.counts_from), ts, ts)
        if self.reported:
            known = overlap(box[None], np.array([b for b, _ in self.reported], dtype=np.float32))
            c.fired = bool((known >= SAME_BLOB).any())
        return c
