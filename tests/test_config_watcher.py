"""The config watcher counts an edit only once the files have settled: a registry caught half-written is never
loaded (that restarted an untouched camera with defaults, and again when the rest of the file arrived)."""

from __future__ import annotations

import os
from pathlib import Path

from sentinel.config.models import SentinelConfig
from sentinel.daemon.live_reload import ConfigWatcher


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def never_loaded() -> SentinelConfig:
    raise AssertionError("changed() must not load")


def write(path: Path, text: str, stamp: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(stamp, stamp))  # distinct mtimes even on coarse-grained filesystems


def test_edit_counts_once_it_has_settled(tmp_path: Path) -> None:
    cams, clock = tmp_path / "cameras.yaml", Clock()
    write(cams, "cameras: []\n", 1_000_000_000)
    watcher = ConfigWatcher([cams], never_loaded, settle=1.0, clock=clock)
    assert not watcher.changed()

    write(cams, "cameras:\n  - id: a\n", 2_000_000_000)  # the first half of a write
    assert not watcher.changed()  # seen, not yet settled
    clock.t += 0.5
    write(cams, "cameras:\n  - id: a\n    source: x.mp4\n", 3_000_000_000)  # the rest arrives
    assert not watcher.changed()  # the settle time starts again
    clock.t += 0.7
    assert not watcher.changed()  # 0.7 s unchanged: not yet
    clock.t += 0.4
    assert watcher.changed()  # 1.1 s unchanged: the edit counts, once
    clock.t += 5
    assert not watcher.changed()


def test_a_file_that_keeps_changing_is_not_taken_until_it_stops(tmp_path: Path) -> None:
    cams, clock = tmp_path / "cameras.yaml", Clock()
    write(cams, "cameras: []\n", 1_000_000_000)
    watcher = ConfigWatcher([cams], never_loaded, settle=1.0, clock=clock)
    for i in range(10):
        write(cams, f"cameras: []  # {i}\n", 2_000_000_000 + i)
        assert not watcher.changed()
        clock.t += 0.6
    assert not watcher.changed()  # 0.6 s since the last write: not yet
    clock.t += 1.0
    assert watcher.changed()


def test_a_deleted_then_restored_file_counts_as_a_change(tmp_path: Path) -> None:
    cams, clock = tmp_path / "cameras.yaml", Clock()
    write(cams, "cameras: []\n", 1_000_000_000)
    watcher = ConfigWatcher([cams], never_loaded, settle=0.0, clock=clock)
    cams.unlink()
    assert not watcher.changed()  # noticed
    assert watcher.changed()  # settled (settle 0): a missing file is a change the loader reports
    write(cams, "cameras: []\n", 1_000_000_000)
    assert not watcher.changed()
    assert watcher.changed()
