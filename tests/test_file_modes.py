"""The database and the media under storage.data_dir are the daemon user's alone: folders 0700, files 0600,
set when they are made, whatever the umask (under umask 0 too, where the library defaults would give 0644 and
0755), and without changing the process's umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from sentinel.alerts.snapshot import SnapshotStore
from sentinel.detect.reference_view import PENDING_FILE, REFERENCE_FILE, ReferenceView
from sentinel.pipeline.clips import ClipJob
from sentinel.storage.db import open_database
from sentinel.storage.private import create_private_file, private_dir, write_private
from tests.support.footage import vtest_h264
from tests.test_clips import Feed, run_jobs


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_a_fresh_database_and_a_snapshot_are_private(tmp_path: Path, umask: int) -> None:
    data_dir = tmp_path / "var" / "site"
    with open_database(None, data_dir) as database:
        with database.engine.connect() as conn:  # an open connection keeps the -wal and -shm files
            conn.execute(sa.text("SELECT count(*) FROM alerts"))
            files = {p.name: mode(p) for p in data_dir.iterdir()}
        assert os.umask(umask) == umask  # the process's umask was left alone
        saved = SnapshotStore(data_dir).save(
            "a1", b"\xff\xd8 not much of a jpeg", datetime(2026, 12, 3, tzinfo=UTC)
        )
    assert {"sentinel.db", "sentinel.db-wal", "sentinel.db-shm", "sentinel.db.migrate-lock"} <= set(files)
    assert files == dict.fromkeys(files, 0o600), files
    assert mode(tmp_path / "var") == mode(data_dir) == 0o700  # every folder it made
    assert mode(data_dir / "snapshots") == mode(data_dir / "snapshots" / "2026-12-03") == 0o700
    assert mode(saved.path) == 0o600 and saved.path.read_bytes().startswith(b"\xff\xd8")
    assert not list(saved.path.parent.glob("*.tmp"))


def test_folders_and_files_that_exist_keep_their_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    shared.chmod(0o750)
    private_dir(shared / "a" / "b")
    assert mode(shared) == 0o750 and mode(shared / "a") == mode(shared / "a" / "b") == 0o700
    db = shared / "sentinel.db"
    db.touch()
    db.chmod(0o640)
    with open_database(f"sqlite:///{db}", tmp_path / "unused"):
        pass
    assert mode(db) == 0o640  # an operator's choice is not undone
    assert not create_private_file(db) and mode(db) == 0o640
    leftover = shared / "x.tmp"
    leftover.write_bytes(b"old")
    leftover.chmod(0o666)
    write_private(leftover, b"new")  # a file this code writes is 0600, even one left over with 0666
    assert mode(leftover) == 0o600 and leftover.read_bytes() == b"new"
    (shared / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a folder"):
        private_dir(shared / "file")


def test_a_data_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    from sentinel.storage.db import DatabaseError

    (tmp_path / "blocked").write_text("a file where the data folder should be")
    with pytest.raises(DatabaseError, match=r"cannot make the data folder .*blocked/var"):
        open_database(None, tmp_path / "blocked" / "var")


def test_clips_and_reference_views_are_private(tmp_path: Path, umask: int) -> None:
    data_dir = tmp_path / "var"
    source = vtest_h264(768, 576, fps=25, gop=25)
    feed = Feed(str(source), pre=1, post=1, realtime=False, loop=False)
    try:
        alert = feed.frame(3)
        staged = data_dir / "clips" / ".incoming" / "a.mp4"  # where a worker writes a clip
        (result,) = run_jobs(ClipJob.plan("a", feed.ring, alert.seq, alert.ts, 1, 1, staged))
    finally:
        feed.close()
    assert result.state == "ready" and result.path == staged
    assert mode(data_dir) == mode(data_dir / "clips") == mode(staged.parent) == 0o700
    assert mode(staged) == 0o600

    state_dir = data_dir / "cameras" / "plaza-north"  # a camera's lasting rule state
    view = ReferenceView(state_dir, samples=3, spacing=0.0)
    view.accept_new_view()
    assert mode(data_dir / "cameras") == mode(state_dir) == 0o700
    assert mode(state_dir / PENDING_FILE) == 0o600
    rng = np.random.default_rng(7)
    picture = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    for ts in range(4):
        view.update(picture, float(ts))
    assert not view.pending
    assert mode(state_dir / REFERENCE_FILE) == 0o600
