"""Snapshots: boxes and zone are drawn where the event says; files are stored by day and pruned by age."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

import cv2
import numpy as np

from sentinel.alerts.snapshot import SnapshotStore
from sentinel.detect.annotate import BOX_COLOUR
from sentinel.detect.rules import SeenObject
from sentinel.pipeline.snapshot import render_snapshot


def test_render_draws_box_and_zone_in_place() -> None:
    frame = np.zeros((200, 400, 3), np.uint8)
    jpeg = render_snapshot(
        frame, [SeenObject("person", 0.9, (0.25, 0.25, 0.5, 0.75))], [(0.6, 0.1), (0.9, 0.1), (0.9, 0.9)]
    )
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (200, 400, 3)
    # left edge of the box at x=100, rows 50..150: red-ish
    edge = img[60:140, 100].astype(int)
    assert (edge[:, 2] > 150).all() and np.allclose(edge.mean(0), BOX_COLOUR[::-1][::-1], atol=60)
    assert img[100, 10].max() < 30  # outside everything stays black
    assert img[80, 300].sum() > 20  # inside the zone: tinted
    assert frame.max() == 0  # the caller's frame is untouched


def test_store_by_day_and_prune(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    old = store.save("a", b"\xff\xd8old", datetime(2026, 1, 1, 12))
    new = store.save("b", b"\xff\xd8new", datetime(2026, 3, 1, 12))
    assert old.path == tmp_path / "snapshots" / "2026-01-01" / "a.jpg"
    assert old.url == "/media/snapshots/2026-01-01/a.jpg"
    assert old.sha256 == hashlib.sha256(b"\xff\xd8old").hexdigest()
    (tmp_path / "snapshots" / "not-a-day").mkdir()
    assert store.prune(date(2026, 3, 2), keep_days=30) == 1
    assert not old.path.exists() and new.path.exists()
    assert (tmp_path / "snapshots" / "not-a-day").is_dir()
