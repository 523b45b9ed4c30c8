"""Media retention: snapshots and clips share one policy, by age and by total size, oldest days first."""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from pathlib import Path

from sentinel.alerts.retention import prune_media
from sentinel.alerts.snapshot import SnapshotStore
from sentinel.config.models import StorageConfig

TODAY = date(2026, 11, 22)


def put(data_dir: Path, tree: str, day: date, name: str, size: int, age: float = 0.0) -> Path:
    path = data_dir / tree / day.isoformat() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    if age:
        t = time.time() - age
        os.utime(path, (t, t))
    return path


def days(data_dir: Path, tree: str) -> list[str]:
    root = data_dir / tree
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def test_by_age_covers_both_trees(tmp_path: Path) -> None:
    for back in (40, 31, 30, 1, 0):
        day = TODAY - timedelta(days=back)
        put(tmp_path, "snapshots", day, "a.jpg", 10)
        put(tmp_path, "clips", day, "a.mp4", 100)
    (tmp_path / "snapshots" / "not-a-day").mkdir()
    report = prune_media(tmp_path, TODAY, keep_days=30)
    gone = [(TODAY - timedelta(days=b)).isoformat() for b in (40, 31)]
    assert report.days == gone and report.files == 4 and report.bytes == 2 * 110
    kept = [(TODAY - timedelta(days=b)).isoformat() for b in (30, 1, 0)]
    assert days(tmp_path, "snapshots") == sorted([*kept, "not-a-day"])
    assert days(tmp_path, "clips") == kept
    assert report.total_after == 3 * 110


def test_by_size_oldest_days_first_across_trees(tmp_path: Path) -> None:
    # day -3: a big clip; day -2: snapshots only; day -1: both; today: both
    put(tmp_path, "clips", TODAY - timedelta(days=3), "old.mp4", 5000)
    put(tmp_path, "snapshots", TODAY - timedelta(days=2), "s.jpg", 300)
    put(tmp_path, "snapshots", TODAY - timedelta(days=1), "s.jpg", 300)
    put(tmp_path, "clips", TODAY - timedelta(days=1), "c.mp4", 2000)
    put(tmp_path, "snapshots", TODAY, "s.jpg", 300)
    put(tmp_path, "clips", TODAY, "c.mp4", 2000)
    report = prune_media(tmp_path, TODAY, keep_days=30, max_bytes=4700)
    # 9900 in all: dropping day -3 leaves 4900 (> 4700), dropping day -2 too leaves 4600
    assert report.days == [(TODAY - timedelta(days=3)).isoformat(), (TODAY - timedelta(days=2)).isoformat()]
    assert report.total_after == 4600 and report.bytes == 5300
    assert days(tmp_path, "clips") == [(TODAY - timedelta(days=1)).isoformat(), TODAY.isoformat()]
    assert days(tmp_path, "snapshots") == [(TODAY - timedelta(days=1)).isoformat(), TODAY.isoformat()]
    assert prune_media(tmp_path, TODAY, keep_days=30, max_bytes=4700).files == 0  # already under


def test_today_alone_over_the_limit_loses_its_oldest_files(tmp_path: Path) -> None:
    first = put(tmp_path, "clips", TODAY, "first.mp4", 1000, age=300)
    second = put(tmp_path, "snapshots", TODAY, "second.jpg", 1000, age=200)
    third = put(tmp_path, "clips", TODAY, "third.mp4", 1000, age=100)
    report = prune_media(tmp_path, TODAY, keep_days=30, max_bytes=1500)
    assert not first.exists() and not second.exists() and third.exists()
    assert report.files == 2 and report.days == [] and report.total_after == 1000


def test_stale_staged_clips_are_swept(tmp_path: Path) -> None:
    staging = tmp_path / "clips" / ".incoming"
    staging.mkdir(parents=True)
    old, fresh = staging / "old.mp4", staging / "fresh.mp4"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    t = time.time() - 2 * 86400
    os.utime(old, (t, t))
    prune_media(tmp_path, TODAY, keep_days=30)
    assert not old.exists() and fresh.exists()  # a clip being moved right now is left alone


def test_snapshot_store_prune_still_works(tmp_path: Path) -> None:
    put(tmp_path, "snapshots", TODAY - timedelta(days=31), "a.jpg", 1)
    put(tmp_path, "snapshots", TODAY, "b.jpg", 1)
    assert SnapshotStore(tmp_path).prune(TODAY, keep_days=30) == 1
    assert days(tmp_path, "snapshots") == [TODAY.isoformat()]


def test_config_sizes() -> None:
    assert StorageConfig(max_media_bytes="20GB").max_media_bytes == 20 * 1024**3
    assert StorageConfig(max_media_bytes="512 MiB").max_media_bytes == 512 * 1024**2
    assert StorageConfig(max_media_bytes=1000).max_media_bytes == 1000
    assert StorageConfig().max_media_bytes is None
