"""Retention of alert media: snapshots (`<data_dir>/snapshots/DAY/`) and clips (`<data_dir>/clips/DAY/`)
share one policy. Day folders older than `keep_days` go; then, while both trees together exceed
`max_bytes`, the oldest day goes (both trees' folders for it); if today alone is still too big, today's
oldest files go one by one. Folders that are not days (`not-a-day`, the clips' staging folder) are left
alone, except staged clips older than a day, which a crashed worker may have left behind.

Alerts keep their media URLs after the files go: the console answers 404, as for any expired media.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

TREES = ("snapshots", "clips")
STAGING = ".incoming"


@dataclass
class PruneReport:
    files: int = 0
    bytes: int = 0
    days: list[str] = field(default_factory=list)  # whole days removed (any tree)
    total_after: int = 0  # bytes of media left

    def __bool__(self) -> bool:
        return self.files > 0


def _days(root: Path) -> dict[date, Path]:
    out: dict[date, Path] = {}
    if not root.is_dir():
        return out
    for folder in root.iterdir():
        try:
            day = date.fromisoformat(folder.name)
        except ValueError:
            continue  # not one of ours
        if folder.is_dir():
            out[day] = folder
    return out


def _size(folder: Path) -> tuple[int, int]:
    files = total = 0
    for file in folder.rglob("*"):
        try:
            if file.is_file():
                files += 1
                total += file.stat().st_size
        except OSError:
            continue
    return files, total


def _remove_day(folder: Path, report: PruneReport) -> None:
    files, size = _size(folder)
    shutil.rmtree(folder, ignore_errors=True)
    report.files += files
    report.bytes += size


def prune_tree(root: Path, today: date, keep_days: int) -> int:
    """One tree by age only (what SnapshotStore.prune does); returns how many files went."""
    report = PruneReport()
    oldest = today - timedelta(days=keep_days)
    for day, folder in _days(root).items():
        if day < oldest:
            _remove_day(folder, report)
    return report.files


def prune_media(data_dir: Path, today: date, keep_days: int, max_bytes: int | None = None) -> PruneReport:
    """Apply the retention policy to both media trees under `data_dir`."""
    report = PruneReport()
    roots = [data_dir / tree for tree in TREES]
    oldest = today - timedelta(days=keep_days)
    by_day: dict[date, list[Path]] = {}
    for root in roots:
        for day, folder in _days(root).items():
            by_day.setdefault(day, []).append(folder)
    for day in sorted(by_day):
        if day < oldest:
            for folder in by_day.pop(day):
                _remove_day(folder, report)
            report.days.append(day.isoformat())
    _sweep_staging(data_dir / "clips" / STAGING, report)
    sizes = {day: sum(_size(f)[1] for f in folders) for day, folders in by_day.items()}
    total = sum(sizes.values())
    if max_bytes is not None:
        for day in sorted(by_day):
            if total <= max_bytes or day >= today:
                break
            for folder in by_day.pop(day):
                _remove_day(folder, report)
            total -= sizes.pop(day)
            report.days.append(day.isoformat())
        if total > max_bytes:  # today (or later) alone is over the limit: its oldest files first
            files = sorted(
                (
                    f
                    for folders in by_day.values()
                    for folder in folders
                    for f in folder.iterdir()
                    if f.is_file()
                ),
                key=lambda f: f.stat().st_mtime,
            )
            for file in files:
                if total <= max_bytes:
                    break
                size = file.stat().st_size
                file.unlink(missing_ok=True)
                total -= size
                report.files += 1
                report.bytes += size
    report.total_after = total
    return report


def _sweep_staging(folder: Path, report: PruneReport, max_age: float = 86400.0) -> None:
    if not folder.is_dir():
        return
    now = time.time()
    for file in folder.iterdir():
        try:
            if file.is_file() and now - file.stat().st_mtime > max_age:
                report.bytes += file.stat().st_size
                file.unlink()
                report.files += 1
        except OSError:
            continue
