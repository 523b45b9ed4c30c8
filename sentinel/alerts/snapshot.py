"""Alert snapshots: the frame with the zone and the counted boxes drawn, as JPEG, stored on disk by date."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import cv2
import numpy as np

from sentinel.alerts.retention import prune_tree
from sentinel.detect.privacy import PrivacyMask
from sentinel.detect.rules import SeenObject

ZONE_COLOUR = (0, 200, 255)  # BGR amber
BOX_COLOUR = (40, 40, 230)  # BGR red


def render_snapshot(
    image: np.ndarray,
    objects: list[SeenObject],
    zone_polygon: list[tuple[float, float]] | None,
    quality: int = 85,
    privacy: PrivacyMask | None = None,
) -> bytes:
    """Draw on a copy of the frame and encode it. Coordinates are normalised 0..1. `privacy` masks are
    blacked out last, over any drawing: the masked area is plain black."""
    canvas = image.copy()
    h, w = canvas.shape[:2]
    thickness = max(2, round(min(h, w) / 360))
    if zone_polygon:
        pts = (np.array(zone_polygon, dtype=np.float32) * [w, h]).astype(np.int32)
        overlay = canvas.copy()
        cv2.fillPoly(overlay, [pts], ZONE_COLOUR)
        cv2.addWeighted(overlay, 0.15, canvas, 0.85, 0, dst=canvas)
        cv2.polylines(canvas, [pts], True, ZONE_COLOUR, thickness)
    for obj in objects:
        x1, y1, x2, y2 = (
            int(round(v)) for v in (obj.box[0] * w, obj.box[1] * h, obj.box[2] * w, obj.box[3] * h)
        )
        cv2.rectangle(canvas, (x1, y1), (x2, y2), BOX_COLOUR, thickness)
        label = f"{obj.label} {obj.score:.2f}"
        cv2.putText(
            canvas, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, BOX_COLOUR, 1, cv2.LINE_AA
        )
    if privacy is not None:
        privacy.apply(canvas)
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


@dataclass(frozen=True)
class StoredSnapshot:
    path: Path
    url: str  # path under the console's media root
    sha256: str


class SnapshotStore:
    """Files under `<data_dir>/snapshots/YYYY-MM-DD/<alert_id>.jpg`, written atomically and fsynced."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "snapshots"

    def save(self, alert_id: str, jpeg: bytes, when: datetime) -> StoredSnapshot:
        day = when.strftime("%Y-%m-%d")
        folder = self.root / day
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{alert_id}.jpg"
        tmp = path.with_suffix(".jpg.tmp")
        with open(tmp, "wb") as fh:
            fh.write(jpeg)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return StoredSnapshot(
            path, f"/media/snapshots/{day}/{alert_id}.jpg", hashlib.sha256(jpeg).hexdigest()
        )

    def prune(self, today: date, keep_days: int) -> int:
        """Delete day folders older than `keep_days`; returns how many files went. (The daemon prunes
        snapshots and clips together, by age and size: `sentinel.alerts.retention.prune_media`.)"""
        return prune_tree(self.root, today, keep_days)
