"""`posted_text`: text put up in a wall or pole zone that stays — small ads and posters 非法小广告 (07001),
slogans and banners 违规标语横幅 — found where the picture changed and verified by OCR.

The change comes from the camera's slow dual background (`sentinel.detect.background`), as for dumped
rubbish: a region that differs from the long-term background and has settled (people walking by never do).
A region that tracked people or vehicles covered in more than MAX_EXPLAINED of the frames it was seen in is
theirs (someone in a printed T-shirt standing there), and no region is read while a person or vehicle box
overlaps it now, so a walker's shirt is never read as a poster. Each settled region is read by OCR at most
MAX_READS times (`sentinel.detect.text_reader`), so the cost is per changed region, not per frame.

What was put up is told by the shape of the changed region (pixels of the analysed picture): a banner is a
long strip, width/height >= `banner_aspect` (横幅 are cloth strips of about 1:4 to 1:10); anything squarer is
a poster or small ad (A4/A3 sheets, stickers, about 1:1.4). A rule reports one of the two (`text_shape`),
so a site that wants both draws one zone and lists two rules on it, one per event type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from sentinel.detect.background import BackgroundModel, StaticBlobs
from sentinel.detect.image_structure import boxes_mask, polygon_mask
from sentinel.detect.rules.base import FrameContext, RuleEnv, RuleEvent, SeenObject
from sentinel.detect.rules.static_object import SAME_BLOB, BackgroundRuleParams, overlap
from sentinel.detect.text_reader import TextLine, TextReader
from sentinel.detect.zones import ZoneArea
from sentinel.fields import Seconds

MAX_EXPLAINED = 0.25  # a region covered by a person/vehicle box in more than this share of frames is theirs
MAX_READS = 3  # OCR passes on one region before it is taken for a change without text
READ_MARGIN = 0.15  # the region is read with this share of its size around it (the changed part may be cut)
IN_ZONE = 0.5  # the share of a region's pixels that must be in the zone


class PostedTextParams(BackgroundRuleParams):
    """Text regions appearing in the zone and staying `min_duration`, verified by OCR."""

    kind: Literal["posted_text"]
    text_shape: Literal["poster", "banner"] = Field(
        default="poster", description="what this rule reports: posters/small ads, or banners (long strips)"
    )
    banner_aspect: float = Field(
        default=3.0, gt=1, le=50, description="a changed region this many times wider than high is a banner"
    )
    min_duration: Seconds = 120.0
    min_area: float = Field(default=0.0004, gt=0, lt=1, description="fraction of the frame")
    min_chars: int = Field(default=2, ge=1, le=100, description="characters read that make a region text")
    min_text_score: float = Field(default=0.6, gt=0, lt=1, description="OCR confidence a line must reach")
    ocr_models: Path | None = Field(
        default=None,
        description="folder with PP-OCRv4 det/rec ONNX files; unset: those in the rapidocr_onnxruntime wheel",
    )


@dataclass
class TextRegion:
    """A settled changed region followed over frames, and what OCR read in it."""

    box: np.ndarray  # normalised xyxy
    first_seen: float  # when it appeared against the long-term background
    last_seen: float
    created: float  # when it was first seen settled
    frames: int = 0
    explained: int = 0
    reads: int = 0
    lines: tuple[TextLine, ...] = ()
    shape: Literal["poster", "banner"] = "poster"
    fired: bool = False

    @property
    def explained_ratio(self) -> float:
        return self.explained / max(self.frames, 1)

    @property
    def chars(self) -> int:
        return sum(len(line.text.replace(" ", "")) for line in self.lines)

    @property
    def score(self) -> float:
        """The mean OCR confidence of its lines, weighted by their length."""
        n = max(self.chars, 1)
        return round(sum(line.score * len(line.text.replace(" ", "")) for line in self.lines) / n, 4)


class PostedText:
    kind = "posted_text"
    uses_image = True

    def __init__(self, cfg: PostedTextParams, area: ZoneArea, env: RuleEnv) -> None:
        names = env.class_names
        unknown = [c for c in cfg.ignore_classes if c not in names]
        if unknown and "ignore_classes" in cfg.model_fields_set:
            raise ValueError(f"posted_text: the model has no class {unknown[0]!r}")
        self.cfg = cfg
        self.area = area
        self.event_type = cfg.event_type
        self.zone = area.name
        self.ignore_ids = np.array([names.index(c) for c in cfg.ignore_classes if c in names], dtype=np.int64)
        self.reader = TextReader(cfg.ocr_models, cfg.min_text_score)  # TextReaderError: a one-line message
        self.model = BackgroundModel(
            learn_time=cfg.learn_time, settle_time=cfg.settle_time, min_contrast=cfg.min_contrast
        )
        self.max_gap = max(2.0 * cfg.settle_time, 20.0)  # a region unseen this long (torn down) is dropped
        self.regions: list[TextRegion] = []
        self.last_fired: float | None = None
        self.ocr_runs = 0  # OCR passes so far (bench/ocr.py reads it)
        self._zone_mask: np.ndarray | None = None
        self._now = 0.0

    @property
    def active(self) -> bool:
        """A reported text region is still there."""
        return any(r.fired and self._now - r.last_seen <= self.max_gap for r in self.regions)

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        if ctx.image is None:
            return None
        ts = self._now = ctx.ts
        hold = [r.box for r in self.regions if r.fired]
        blobs = self.model.update(ctx.image, ts, np.array(hold) if hold else None)
        if blobs is None:
            return None
        covering = self._track(blobs, ctx, ts)
        for i, r in enumerate(self.regions):
            if self._should_read(r, ts) and not covering[i]:
                self._read(r, ctx.image)
        due = [r for r in self.regions if not r.fired and self._qualifies(r, ts)]
        if not due or (self.last_fired is not None and ts - self.last_fired < self.cfg.cooldown):
            return None
        for r in due:
            r.fired = True
        self.last_fired = ts
        texts = tuple(line for r in due for line in r.lines)
        return RuleEvent(
            camera_id=ctx.camera_id,
            rule_kind=self.kind,
            event_type=self.event_type,
            zone=self.zone,
            started_at=min(r.first_seen for r in due),
            detected_at=ts,
            count=len(due),
            confidence=max(r.score for r in due),
            objects=[SeenObject(f"text_{r.shape}", r.score, _box(r.box)) for r in due],
            zone_polygon=[tuple(p) for p in self.area.points.tolist()]
            if self.area.points is not None
            else None,
            detail="; ".join(f"{r.shape}: {' / '.join(line.text for line in r.lines)}" for r in due),
            texts=texts,
        )

    def _settled(self, r: TextRegion, ts: float) -> bool:
        """Seen settled long enough (and seldom enough under a person or vehicle) to be judged."""
        watch = min(self.cfg.settle_time, max(self.cfg.min_duration / 4, 5.0))
        return (
            r.last_seen == ts
            and r.last_seen - r.created >= watch
            and r.frames >= 3
            and r.explained_ratio <= MAX_EXPLAINED
        )

    def _should_read(self, r: TextRegion, ts: float) -> bool:
        return not r.fired and r.chars < self.cfg.min_chars and r.reads < MAX_READS and self._settled(r, ts)

    def _read(self, r: TextRegion, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        x1, y1, x2, y2 = r.box
        mx, my = READ_MARGIN * (x2 - x1), READ_MARGIN * (y2 - y1)
        px = (
            int(max(0.0, x1 - mx) * w),
            int(max(0.0, y1 - my) * h),
            int(np.ceil(min(1.0, x2 + mx) * w)),
            int(np.ceil(min(1.0, y2 + my) * h)),
        )
        r.reads += 1
        self.ocr_runs += 1
        r.lines = tuple(self.reader.read(image, px))
        # the shape is the changed region's, in pixels of the analysed picture
        aspect = (x2 - x1) * w / max((y2 - y1) * h, 1e-6)
        r.shape = "banner" if aspect >= self.cfg.banner_aspect else "poster"

    def _qualifies(self, r: TextRegion, ts: float) -> bool:
        return (
            r.chars >= self.cfg.min_chars
            and r.shape == self.cfg.text_shape
            and r.last_seen >= ts - self.max_gap
            and r.last_seen - r.first_seen >= self.cfg.min_duration
            and r.explained_ratio <= MAX_EXPLAINED
        )

    def _track(self, blobs: StaticBlobs, ctx: FrameContext, ts: float) -> list[bool]:
        """Follow the settled regions of new structure in the zone; per region (after the update): whether a
        person or vehicle box overlaps it in this frame."""
        labels = blobs.labels
        shape = (labels.shape[0], labels.shape[1])
        if self._zone_mask is None or self._zone_mask.shape != shape:
            self._zone_mask = polygon_mask(self.area.points, shape)
        n = len(blobs)
        in_zone = np.bincount(labels[self._zone_mask], minlength=n + 1)[1:]
        dets = ctx.dets
        people = dets.xyxy[np.isin(dets.class_id, self.ignore_ids)]
        covered = np.bincount(labels[boxes_mask(people, shape, grow=0.15)], minlength=n + 1)[1:]
        keep = (
            (in_zone >= self.cfg.min_area * shape[0] * shape[1])
            & (in_zone >= IN_ZONE * blobs.areas)
            & blobs.added
        )
        boxes, explained, appeared = (
            blobs.boxes[keep],
            (covered >= 0.5 * blobs.areas)[keep],
            blobs.appeared[keep],
        )

        self.regions = [r for r in self.regions if ts - r.last_seen <= self.max_gap]
        seen: dict[int, list[int]] = {}
        known = np.array([r.box for r in self.regions], dtype=np.float32).reshape(-1, 4)
        match = overlap(boxes, known)
        for i in range(len(boxes)):
            j = int(match[i].argmax()) if match.shape[1] else -1
            if j >= 0 and match[i, j] >= SAME_BLOB:
                seen.setdefault(j, []).append(i)
            else:
                self.regions.append(TextRegion(boxes[i].copy(), min(float(appeared[i]), ts), ts, ts))
                seen[len(self.regions) - 1] = [i]
        for j, rows in seen.items():
            r = self.regions[j]
            r.box = np.concatenate([boxes[rows, :2].min(axis=0), boxes[rows, 2:].max(axis=0)])
            r.last_seen = ts
            r.frames += 1
            r.explained += int(explained[rows].any())
        return [_overlaps_any(r.box, people) for r in self.regions]


def _overlaps_any(box: np.ndarray, others: np.ndarray) -> bool:
    if not len(others):
        return False
    ix = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    iy = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    return bool(((ix > 0) & (iy > 0)).any())


def _box(b: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (round(float(v), 4) for v in b)
    return (x1, y1, x2, y2)
