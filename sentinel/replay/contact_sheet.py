"""Replay's contact sheet: the alert snapshots in a grid (320 px wide each), labelled with type and time. The
snapshots are masked already (the pipeline renders them so); each tile is masked again at its own size with
the camera's privacy masks, so the sheet does not depend on where its pictures came from."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sentinel.alerts.schema import Alert
from sentinel.detect.annotate import draw_text
from sentinel.detect.privacy import PrivacyMask

TILE_WIDTH = 320
MAX_TILES = 48


def write_contact_sheet(
    path: Path, snapshot_root: Path, alerts: list[Alert], columns: int = 4, privacy: PrivacyMask | None = None
) -> None:
    tiles = []
    for alert in alerts[:MAX_TILES]:
        if alert.snapshot is None:
            continue
        file = snapshot_root.parent / alert.snapshot.url.removeprefix("/media/")
        img = cv2.imread(str(file))
        if img is None:
            continue
        tile = cv2.resize(img, (TILE_WIDTH, int(TILE_WIDTH * img.shape[0] / img.shape[1])))
        if privacy is not None:
            privacy.apply(tile)
        cv2.rectangle(tile, (0, 0), (TILE_WIDTH, 20), (0, 0, 0), -1)  # a dark band under the label
        label = f"{alert.event_type} {alert.detected_at[11:19]} n={alert.count}"
        draw_text(tile, label, (4, 14), 0.45, (255, 255, 255))
        tiles.append(tile)
    if not tiles:
        blank = np.zeros((60, 480, 3), np.uint8)
        draw_text(blank, "no alerts in this replay", (10, 38), 0.8, (255, 255, 255))
        cv2.imwrite(str(path), blank)
        return
    height = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles]
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    cv2.imwrite(str(path), np.vstack(rows))
