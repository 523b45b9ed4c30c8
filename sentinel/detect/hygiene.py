"""Detector hygiene: a camera's `detection_filter` applied to each detector's fresh output, before the tracker
and the rules see it -- score, size and shape limits per class, one box per object (duplicates across
classes, fragments nested inside their object's box), and object masks (places whose detections are ignored).

Everything is numpy over the frame's columns (a frame has tens of boxes): one pass per limit, one pairwise
matrix for duplicates and nesting, one shapely call per mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import shapely
from shapely.geometry import Polygon

from sentinel.detect.detections import Detections
from sentinel.detect.settings import BoxLimits, DetectionFilter

ClassNames = Sequence[str] | Mapping[str, Sequence[str]]  # one detector's classes, or each named detector's


def box_areas(xyxy: np.ndarray) -> np.ndarray:
    return np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None) * np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None)


def intersections(xyxy: np.ndarray) -> np.ndarray:
    """[N, N] intersection areas of every pair of boxes."""
    lo = np.maximum(xyxy[:, None, :2], xyxy[None, :, :2])
    hi = np.minimum(xyxy[:, None, 2:], xyxy[None, :, 2:])
    wh = np.clip(hi - lo, 0, None)
    return wh[..., 0] * wh[..., 1]


class LimitColumns:
    """Per-class limits as arrays indexed by class id (NaN: no limit), so a frame is checked in one pass."""

    def __init__(self, cfg: DetectionFilter, class_names: Sequence[str]) -> None:
        n = len(class_names)
        self.columns = {key: np.full(n, np.nan) for key in BoxLimits.model_fields}
        for cid, name in enumerate(class_names):
            limits = cfg.classes[name].over(cfg.all) if name in cfg.classes else cfg.all
            for key, value in limits.model_dump().items():
                if value is not None:
                    self.columns[key][cid] = value
        self.any = any(bool(np.isfinite(col).any()) for col in self.columns.values())  # else: skip

    def keep(self, dets: Detections, frame_aspect: float) -> np.ndarray:
        """Rows within their class's limits; `frame_aspect` = picture width / height (shape in pixels)."""
        if not self.any:
            return np.ones(len(dets), dtype=bool)
        cid = dets.class_id
        area = box_areas(dets.xyxy)
        w = np.maximum(dets.xyxy[:, 2] - dets.xyxy[:, 0], 1e-6) * frame_aspect
        aspect = (dets.xyxy[:, 3] - dets.xyxy[:, 1]) / w  # height / width in pixels
        col = self.columns
        with np.errstate(invalid="ignore"):  # NaN limits compare False: `~(x < NaN)` keeps the row
            bad = dets.score < col["min_score"][cid]
            bad |= area < col["min_area"][cid]
            bad |= area > col["max_area"][cid]
            bad |= aspect < col["min_aspect"][cid]
            bad |= aspect > col["max_aspect"][cid]
        return ~bad


def one_box_per_object(dets: Detections, cfg: DetectionFilter) -> np.ndarray:
    """Rows that are not a duplicate (IoU >= duplicate_iou with a better-scoring box of any class) or a
    fragment (nested_within of its area inside a larger box of its class that scores at least as well: the
    whole object; a larger box that scores lower is more likely a group than the object itself)."""
    n = len(dets)
    keep = np.ones(n, dtype=bool)
    if n < 2 or (cfg.duplicate_iou is None and cfg.nested_within is None):
        return keep
    inter = intersections(dets.xyxy)
    np.fill_diagonal(inter, 0.0)
    area = box_areas(dets.xyxy)
    order = np.argsort(-dets.score, kind="stable")
    # `better[i, j]`: j ranks above i (higher score, ties by order)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    better = rank[None, :] < rank[:, None]
    if cfg.duplicate_iou is not None:
        iou = inter / np.maximum(area[:, None] + area[None, :] - inter, 1e-12)
        dup = (iou >= cfg.duplicate_iou) & better
        for i in order:  # greedy, best first: a box suppressed by a dropped box stays
            if keep[i] and np.any(dup[i] & keep):
                keep[i] = False
    if cfg.nested_within is not None:
        inside = inter / np.maximum(area[:, None], 1e-12)  # share of i inside j
        related = (
            np.ones((n, n), dtype=bool)
            if cfg.nested_across_classes
            else dets.class_id[:, None] == dets.class_id[None, :]
        )
        outer = (area[None, :] > area[:, None]) & (dets.score[None, :] >= dets.score[:, None])
        keep &= ~np.any((inside >= cfg.nested_within) & related & outer & keep[None, :], axis=1)
    return keep


class MaskColumns:
    """The object masks as prepared polygons, each with the class ids it ignores (None: all)."""

    def __init__(self, cfg: DetectionFilter, class_names: Sequence[str]) -> None:
        self.masks: list[tuple[Polygon, np.ndarray | None, float]] = []
        for mask in cfg.masks:
            poly = Polygon(mask.polygon)
            shapely.prepare(poly)
            ids = [class_names.index(c) for c in mask.classes if c in class_names]
            self.masks.append((poly, np.array(ids) if mask.classes else None, mask.min_overlap))

    def keep(self, dets: Detections) -> np.ndarray:
        keep = np.ones(len(dets), dtype=bool)
        if not self.masks or len(dets) == 0:
            return keep
        boxes = shapely.box(dets.xyxy[:, 0], dets.xyxy[:, 1], dets.xyxy[:, 2], dets.xyxy[:, 3])
        area = np.maximum(box_areas(dets.xyxy), 1e-12)
        for poly, ids, min_overlap in self.masks:
            covered = shapely.area(shapely.intersection(boxes, poly)) / area >= min_overlap
            applies = np.ones(len(dets), dtype=bool) if ids is None else np.isin(dets.class_id, ids)
            keep &= ~(covered & applies)
        return keep


class DetectorHygiene:
    """One detector's filter on one camera."""

    def __init__(self, cfg: DetectionFilter, class_names: Sequence[str]) -> None:
        self.cfg = cfg
        self.limits = LimitColumns(cfg, class_names)
        self.masks = MaskColumns(cfg, class_names)

    def clean(self, dets: Detections, frame_aspect: float) -> Detections:
        if len(dets) == 0:
            return dets
        keep = self.limits.keep(dets, frame_aspect) & self.masks.keep(dets)
        dets = dets[keep]
        return dets[one_box_per_object(dets, self.cfg)]


def named_classes(cfg: DetectionFilter) -> set[str]:
    return set(cfg.classes) | {c for mask in cfg.masks for c in mask.classes}


class CameraHygiene:
    """A camera's filter for each detector it runs (class names differ between models). ValueError when the
    filter names a class none of the camera's detectors has, or names classes without knowing any."""

    def __init__(self, camera_id: str, cfg: DetectionFilter, class_names: ClassNames | None) -> None:
        self.camera_id = camera_id
        self.cfg = cfg
        self.by_detector: dict[str | None, DetectorHygiene] = {}
        named = named_classes(cfg)
        if class_names is None:
            if named:
                raise ValueError(
                    f"camera {camera_id}: detection_filter names classes ({', '.join(sorted(named))}) "
                    "but the pipeline was given no detector class names"
                )
            self.by_detector[None] = DetectorHygiene(cfg, [])
            return
        tables = {None: class_names} if not isinstance(class_names, Mapping) else dict(class_names)
        known = {c for names in tables.values() for c in names}
        unknown = sorted(named - known)
        if unknown:
            raise ValueError(
                f"camera {camera_id}: detection_filter names class {unknown[0]!r}, which its detectors "
                f"do not have (classes: {', '.join(sorted(known)[:12])}, ...)"
            )
        for name, names in tables.items():
            self.by_detector[name] = DetectorHygiene(cfg, list(names))

    def clean(self, detector: str, dets: Detections, frame_aspect: float) -> Detections:
        """The detector's fresh boxes without what the filter removes."""
        hygiene = self.by_detector.get(detector) or self.by_detector.get(None)
        if hygiene is None:
            raise ValueError(f"camera {self.camera_id}: no detection filter for detector {detector!r}")
        return hygiene.clean(dets, frame_aspect)
