"""An alert's snapshot: the full-resolution frame with the zone and the counted boxes drawn, privacy masks
blacked out last (over any drawing), as JPEG. Storing it on disk by date is the alert's business
(`sentinel.alerts.snapshot.SnapshotStore`)."""

from __future__ import annotations

import cv2
import numpy as np

from sentinel.detect.annotate import BOX_COLOUR, ZONE_COLOUR, draw_box, draw_zones, line_width
from sentinel.detect.privacy import PrivacyMask
from sentinel.detect.rules import SeenObject


def render_snapshot(
    image: np.ndarray,
    objects: list[SeenObject],
    zone_polygon: list[tuple[float, float]] | None,
    quality: int = 85,
    privacy: PrivacyMask | None = None,
) -> bytes:
    """Draw on a copy of the frame and encode it; the caller's frame is untouched."""
    canvas = image.copy()
    thickness = line_width(canvas)
    if zone_polygon:
        draw_zones(canvas, [zone_polygon], (ZONE_COLOUR,), thickness, fill=0.15)
    for obj in objects:
        draw_box(canvas, obj.box, BOX_COLOUR, thickness, label=f"{obj.label} {obj.score:.2f}")
    if privacy is not None:
        privacy.apply(canvas)
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
