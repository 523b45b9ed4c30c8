"""Files and folders only the daemon's own user may read: folders 0700, files 0600.

The database and the media under `storage.data_dir` (snapshots, clips, per-camera state) show people and
places. Their modes are set when they are created, not left to the umask, and without changing it: the umask
is the whole process's. What exists already keeps its mode (an operator may have chosen it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """`path` as a folder, made (with any missing parents) 0700 where missing; returns it."""
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR)  # at most 0700 from the start, whatever the umask
        except FileExistsError:
            continue  # made at this moment by another thread or process: its mode is its maker's
        os.chmod(folder, PRIVATE_DIR)  # exactly 0700, even under a umask that takes more away
    if not path.is_dir():
        raise FileExistsError(errno.EEXIST, "exists and is not a folder", str(path))
    return path


def create_private_file(path: Path) -> bool:
    """Create `path` empty and 0600 if it does not exist (its folder must); True when this call made it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return True


@contextlib.contextmanager
def open_private(path: Path) -> Iterator[int]:
    """A file descriptor on `path`, created or truncated, 0600; closed at the end of the block."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # not a device such as /dev/full behind a symlink
            os.fchmod(fd, PRIVATE_FILE)  # a leftover file of the same name keeps no wider mode
        yield fd
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes, *, sync: bool = False) -> None:
    """Write `data` to `path` (created or truncated, 0600); `sync`: fsync before closing."""
    with open_private(path) as fd:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
