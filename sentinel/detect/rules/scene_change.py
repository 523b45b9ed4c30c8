"""`scene_change`: lasting structural change against the camera's approved reference view — illegal
construction 违章搭建 (a shed, an extension, a fence that was not there).

The comparison is of *structure*, not brightness: local gradient correlation between a settled current view
and the reference view, judged only where structure is visible above the noise (`StructureDiff`). A
brightness step, dusk, or night gain changes contrast but not where the edges are and which way they run.
The settled view is the per-pixel median of 5 samples taken `min_duration / 20` apart (brightness-normalised),
so people and traffic vanish unless they stand still for most of it (and boxes of detected people and
vehicles are left out); a slight camera sag or vibration is realigned by phase correlation first. A pixel
counts only if at least 3 of the samples differ from the reference there *and* show the view's own structure
(foliage in the wind differs from the reference in every sample, but each time differently). The zone's
changed share must reach `min_area` and hold `min_duration`; one alert per episode, with cooldown. The
reference is replaced only by `accept_new_view()` (the operator approves the new state), never by learning.
The work is done once per sample; the frames in between only re-apply the detection boxes.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from sentinel.detect.change_onset import FrameThumbs
from sentinel.detect.image_structure import (
    Structure,
    StructureDiff,
    boxes_mask,
    median5,
    phase_shift,
    polygon_mask,
    small_grey,
    translate,
)
from sentinel.detect.object_mask_history import ObjectMaskHistory, explained_by_boxes
from sentinel.detect.reference_view import ReferenceView
from sentinel.detect.rules.base import Episode, FrameContext, RuleEnv, RuleEvent, RuleParams, SeenObject
from sentinel.detect.zones import ZoneArea
from sentinel.fields import Seconds

WIDTH = 320  # analysis width (pixels)
WINDOW = 9  # gradient-correlation window (pixels at WIDTH): ~3 % of the width
MAX_ALIGN = 0.03  # the view is realigned to the reference for shifts up to this share of the width
PERSIST = 3  # a pixel counts as changed in at least this many of the 5 samples with no object around it
STEADY = 0.5  # ... in which its structure correlates this well with the view's (the median of the samples)
GHOST_MEMORY = 30.0  # boxes of this many seconds before a new reference are remembered (it takes ~14 s)
_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
_JOIN = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))


class SceneChangeParams(RuleParams):
    """Lasting structural change against the stored reference view (illegal construction)."""

    kind: Literal["scene_change"]
    min_duration: Seconds = 1800.0
    min_area: float = Field(default=0.01, gt=0, lt=1, description="fraction of the zone that must change")
    ignore_classes: list[str] = Field(
        default_factory=lambda: ["person", "bicycle", "car", "motorcycle", "bus", "truck"],
        description="changes inside boxes of these detections do not count",
    )


class SceneChange:
    kind = "scene_change"
    uses_image = True  # the analysis picture (`FrameContext.image`), on every frame

    def __init__(self, cfg: SceneChangeParams, area: ZoneArea, env: RuleEnv) -> None:
        names = env.class_names
        unknown = [c for c in cfg.ignore_classes if c not in names]
        if unknown and "ignore_classes" in cfg.model_fields_set:
            raise ValueError(f"scene_change: the model has no class {unknown[0]!r}")
        self.cfg = cfg
        self.area = area
        self.event_type = cfg.event_type
        self.zone = area.name
        self.ignore_ids = np.array([names.index(c) for c in cfg.ignore_classes if c in names], dtype=np.int64)
        self.reference = ReferenceView(env.state_dir)
        # the current view is the median of 5 samples this far apart: a change shows after 3 samples, people
        # and traffic must stand in one place for 3 of them to show at all
        self.spacing = float(np.clip(cfg.min_duration / 20.0, 1.0, 60.0))
        self.samples: deque[np.ndarray] = deque(maxlen=5)
        self.sample_times: deque[float] = deque(maxlen=5)
        self.history = ObjectMaskHistory(intervals=5)  # boxes of people and vehicles around each sample
        self.thumbs = FrameThumbs(span=5.5 * self.spacing)  # the frames of the window, to place an onset
        self._recent: deque[tuple[float, np.ndarray]] = deque()  # (ts, boxes) of the last GHOST_MEMORY s
        self._ghosts = np.empty((0, 4), np.float32)  # boxes seen while the reference was being built
        self._last_sample = -math.inf
        self._ref: Structure | None = None
        self._ref_grey: np.ndarray | None = None
        self._ref_version = -1
        self._zone_mask: np.ndarray | None = None
        self._saturated = np.zeros((1, 1), dtype=bool)  # clipped pixels of the newest sample: no structure
        self._reset()

    def _reset(self) -> None:
        self.episode = Episode(self.cfg.min_duration, self.cfg.cooldown, clear_after=3 * self.spacing)
        self.fraction = 0.0  # changed share of the zone on the last analysed frame
        self._changed: np.ndarray | None = None
        self._corr: np.ndarray | None = None
        self._since: float | None = None  # the first sample that holds the change (the episode's start)

    @property
    def active(self) -> bool:
        return self.episode.started_at is not None

    def rearm(self, ts: float) -> None:
        """Armed again by the schedule: a fresh sample window and episode (samples from before the disarmed
        hours would mix two times of day), the same reference view (the approved state, never learnt)."""
        self.samples.clear()
        self.sample_times.clear()
        self.history = ObjectMaskHistory(intervals=5)
        self.thumbs = FrameThumbs(span=5.5 * self.spacing)
        self._recent.clear()
        self._last_sample = -math.inf
        self._reset()

    def accept_new_view(self) -> None:
        """Operator action: the scene as it is now becomes the reference (rebuilt from the next stable frames)."""
        self.reference.accept_new_view()
        self._reset()

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        if ctx.image is None:
            return None
        ts = ctx.ts
        objects = self._object_boxes(ctx)
        shape = _small_shape(ctx.image)
        self.history.see(objects, shape)
        self._recent.append((ts, objects))
        self.thumbs.add(ctx.image, ts)
        while self._recent and ts - self._recent[0][0] > GHOST_MEMORY:
            self._recent.popleft()
        was_pending = self.reference.pending
        reference = self.reference.update(ctx.image, ts)
        if ts - self._last_sample >= self.spacing:
            self._sample(ctx.image, ts)
        if reference is None:
            return None
        if self.reference.version != self._ref_version:
            self._ref_version = self.reference.version
            self._ref = None
            # whoever stood there while this reference was built is in it: where they stood is not change
            seen = [b for _, b in self._recent if len(b)]
            self._ghosts = np.concatenate(seen) if was_pending and seen else np.empty((0, 4), np.float32)
            self._reset()
        if self._ref is None and self.samples:
            h, w = self.samples[-1].shape
            ref = cv2.resize(small_grey(reference, WIDTH), (w, h), interpolation=cv2.INTER_AREA)
            self._ref, self._ref_grey = Structure.of(ref, WINDOW), ref
            self._zone_mask = polygon_mask(self.area.points, (h, w))
        if self._ref is not None and len(self.samples) == self.samples.maxlen and self._changed is None:
            self._compare()
        if self._changed is None or self._zone_mask is None:
            return None
        changed = self._changed
        if len(objects):
            changed = changed & ~boxes_mask(objects, changed.shape, grow=0.2)
        self.fraction = float(changed.sum()) / max(int(self._zone_mask.sum()), 1)
        holding = self.fraction >= self.cfg.min_area
        since = self._since if holding else None
        if not self.episode.update(ts, holding, self.fraction >= 0.6 * self.cfg.min_area, since):
            return None
        assert self.episode.started_at is not None and self._corr is not None
        regions = self._regions(changed.astype(np.uint8), self._corr)
        return RuleEvent(
            camera_id=ctx.camera_id,
            rule_kind=self.kind,
            event_type=self.event_type,
            zone=self.zone,
            started_at=self.episode.started_at,
            detected_at=ts,
            count=len(regions),
            confidence=max((o.score for o in regions), default=0.5),
            objects=regions,
            zone_polygon=[tuple(p) for p in self.area.points.tolist()]
            if self.area.points is not None
            else None,
            detail=f"structure changed over {self.fraction:.0%} of the {'zone' if self.zone else 'view'}",
        )

    def _object_boxes(self, ctx: FrameContext) -> np.ndarray:
        """Boxes of people and vehicles now: this frame's detections and the tracker's recently lost tracks."""
        boxes = [ctx.dets.xyxy[np.isin(ctx.dets.class_id, self.ignore_ids)]]
        if ctx.tracker is not None:
            ignore = set(self.ignore_ids.tolist())
            boxes += [t.box[None] for t in ctx.tracker.tracks.values() if t.class_id in ignore]
        return np.concatenate(boxes).astype(np.float32).reshape(-1, 4)

    def _sample(self, image: np.ndarray, ts: float) -> None:
        """Add a sample to the current view: grey, brought to a fixed brightness, and saturation noted; the
        boxes seen since the last sample become its interval."""
        g = small_grey(image, WIDTH)
        if self.samples and self.samples[-1].shape != g.shape:
            self.samples.clear()
            self.sample_times.clear()
            self.history.clear()
            self._ref = None
        level = float(np.median(g[::4, ::4]))
        self._saturated = (g >= 250) | (g <= 3)
        self.samples.append(np.clip(g * (128.0 / max(level, 4.0)), 0, 255).astype(np.uint8))
        self.sample_times.append(ts)
        self.history.close((g.shape[0], g.shape[1]))
        self._last_sample = ts
        self._changed = None  # recomputed once the view is complete

    def _compare(self) -> None:
        assert self._ref is not None and self._ref_grey is not None and self._zone_mask is not None
        view = median5(list(self.samples)).astype(np.float32)
        diff = StructureDiff.of(self._ref, Structure.of(view, WINDOW), WINDOW)
        h, w = view.shape
        shift, known = (0.0, 0.0), np.ones((h, w), dtype=bool)
        if diff.changed.mean() > 0.05:  # a slight camera sag or vibration must not read as change everywhere
            dx, dy, _ = phase_shift(self._ref_grey, view, cv2.createHanningWindow((w, h), cv2.CV_32F))
            if 0.5 <= math.hypot(dx, dy) <= MAX_ALIGN * w:
                aligned = StructureDiff.of(self._ref, Structure.of(translate(view, -dx, -dy), WINDOW), WINDOW)
                mx, my = math.ceil(abs(dx)) + WINDOW // 2 + 1, math.ceil(abs(dy)) + WINDOW // 2 + 1
                edges = np.ones((h, w), dtype=bool)  # no view of the borders: not known
                edges[my : h - my, mx : w - mx] = False
                if (aligned.changed & ~edges).sum() < diff.changed.sum():
                    diff, shift, known = aligned, (dx, dy), ~edges
        # each sample on its own, where no tracked object was around it: the change must hold in PERSIST
        # samples, and those samples must show the view's own structure there (steady): a wall stays put,
        # foliage in the wind or a hand passing shows other structure in every sample
        shown = Structure.of(translate(view, -shift[0], -shift[1]) if shift != (0.0, 0.0) else view, WINDOW)
        per_sample, evidence = [], np.zeros((h, w), dtype=np.uint8)
        for i, sample in enumerate(self.samples):
            cur = self._sample_structure(sample, shift)
            d = StructureDiff.of(self._ref, cur, WINDOW).changed
            steady = StructureDiff.of(shown, cur, WINDOW).corr >= STEADY
            per_sample.append(d)
            evidence += d & steady & ~self.history.cover(i)
        changed = diff.changed & known & self._zone_mask & ~self._saturated & (evidence >= PERSIST)
        changed = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_OPEN, _KERNEL).astype(bool)
        joined = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_CLOSE, _JOIN)
        boxes = np.concatenate([self.history.boxes(), self._ghosts])
        changed &= ~explained_by_boxes(changed, joined, boxes)  # where a person or car lingered
        self._changed, self._corr = changed, diff.corr
        self._since = self._onset(changed, per_sample)

    def _onset(self, changed: np.ndarray, per_sample: list[np.ndarray]) -> float | None:
        """When the change appeared: the first sample of the unbroken run (to the newest) that holds most of
        it, then the frame between that sample and the one before from which the frames look like it."""
        assert self._zone_mask is not None
        need = max(self.cfg.min_area * float(self._zone_mask.sum()), 0.5 * float(changed.sum()))
        first: int | None = None
        for i in range(len(per_sample) - 1, -1, -1):
            if float((per_sample[i] & changed).sum()) < need:
                break
            first = i
        if first is None:
            return None
        if first == 0:
            return self.sample_times[0]  # held in the whole window: no sample without it to compare with
        return self.thumbs.onset(changed, self.sample_times[first - 1], self.sample_times[first])

    def _sample_structure(self, sample: np.ndarray, shift: tuple[float, float]) -> Structure:
        g = sample.astype(np.float32)
        if shift != (0.0, 0.0):
            g = translate(g, -shift[0], -shift[1])
        return Structure.of(g, WINDOW)

    def _regions(self, changed: np.ndarray, corr: np.ndarray) -> list[SeenObject]:
        """The changed regions (nearby bits joined), largest first: box and confidence (1 - mean correlation)."""
        h, w = changed.shape
        joined = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, _JOIN)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
        if n <= 1:
            return []
        flat = labels.ravel()
        weight = changed.ravel().astype(np.float32)
        count = np.bincount(flat, weight, minlength=n)[1:]
        dissimilar = np.bincount(flat, weight * (1.0 - np.clip(corr.ravel(), 0.0, 1.0)), minlength=n)[1:]
        min_pixels = max(0.1 * float(count.sum()), 4.0)  # drop crumbs: regions with < 10 % of the change
        objects = []
        for i in np.argsort(-count):
            if count[i] < min_pixels:
                break
            x, y, bw, bh = stats[i + 1, :4]
            box = (round(x / w, 4), round(y / h, 4), round((x + bw) / w, 4), round((y + bh) / h, 4))
            objects.append(SeenObject("scene_change", round(float(dissimilar[i] / count[i]), 3), box))
        return objects


def _small_shape(image: np.ndarray) -> tuple[int, int]:
    """(h, w) of `image` downscaled to the analysis width (as `downscale` rounds it)."""
    h, w = image.shape[:2]
    return max(1, round(h * WIDTH / w)), WIDTH
