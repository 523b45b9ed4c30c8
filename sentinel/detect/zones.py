"""Zones: polygons in normalised image coordinates; an object is in a zone when the bottom-centre of its box
(where it touches the ground) is inside."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Polygon

from sentinel.detect.detections import Detections
from sentinel.detect.settings import Zone


class ZoneArea:
    def __init__(self, zone: Zone | None) -> None:
        """`None` is the whole frame."""
        self.name = zone.name if zone else None
        self.points = np.array(zone.polygon, dtype=np.float32) if zone else None
        self._polygon = Polygon(zone.polygon) if zone else None
        if self._polygon is not None:
            shapely.prepare(self._polygon)

    def contains(self, dets: Detections) -> np.ndarray:
        """Boolean mask over detections."""
        if self._polygon is None or len(dets) == 0:
            return np.ones(len(dets), dtype=bool)
        feet = dets.bottom_centres()
        # boxes touching the bottom edge have feet at y=1.0: count them, the border is inside
        return np.asarray(shapely.intersects_xy(self._polygon, feet[:, 0], np.minimum(feet[:, 1], 0.9999)))
