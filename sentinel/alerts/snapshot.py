"""Alert snapshots on disk, by date. The JPEG itself is drawn by the pipeline (`sentinel.pipeline.snapshot`)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sentinel.alerts.retention import prune_tree
from sentinel.storage.private import private_dir, write_private


@dataclass(frozen=True)
class StoredSnapshot:
    path: Path
    url: str  # path under the console's media root
    sha256: str


class SnapshotStore:
    """Files under `<data_dir>/snapshots/YYYY-MM-DD/<alert_id>.jpg`, written atomically and fsynced; folders
    0700 and files 0600 (storage/private.py)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "snapshots"

    def save(self, alert_id: str, jpeg: bytes, when: datetime) -> StoredSnapshot:
        day = when.strftime("%Y-%m-%d")
        folder = self.root / day
        private_dir(folder)
        path = folder / f"{alert_id}.jpg"
        tmp = path.with_suffix(".jpg.tmp")
        write_private(tmp, jpeg, sync=True)
        os.replace(tmp, path)
        return StoredSnapshot(
            path, f"/media/snapshots/{day}/{alert_id}.jpg", hashlib.sha256(jpeg).hexdigest()
        )

    def prune(self, today: date, keep_days: int) -> int:
        """Delete day folders older than `keep_days`; returns how many files went. (The daemon prunes
        snapshots and clips together, by age and size: `sentinel.alerts.retention.prune_media`.)"""
        return prune_tree(self.root, today, keep_days)
