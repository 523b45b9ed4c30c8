"""Processes as /proc shows them (Linux): a process's descendants, whether they still live, whether one is
blocked writing to a full pipe."""

from __future__ import annotations

import os
import platform
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_WRITE = {"x86_64": 1, "aarch64": 64}  # the write(2) syscall number


@dataclass(frozen=True)
class Proc:
    pid: int
    start: int  # clock ticks after boot: a pid reused by another process has another start
    cmdline: str

    def alive(self) -> bool:
        """Still running (a zombie, or another process under the same pid, does not count)."""
        stat = _stat(self.pid)
        return stat is not None and stat[2] != "Z" and int(stat[21]) == self.start

    def kill(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat, `comm` (field 2, may hold spaces) as one; None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    head, rest = text.rsplit(")", 1)
    pid_s, comm = head.split(" (", 1)
    return [pid_s, comm, *rest.split()]


def descendants(root: int) -> list[Proc]:
    """Every living process whose parent chain leads to `root` (not `root` itself)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(int(stat[3]), []).append(int(entry.name))
    found: list[Proc] = []
    todo = [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            stat = _stat(pid)
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            if stat is not None and stat[2] != "Z":
                found.append(Proc(pid, int(stat[21]), cmdline))
                todo.append(pid)
    return found


def wait_all_gone(procs: list[Proc], timeout: float) -> list[Proc]:
    """Those of `procs` still alive after `timeout` seconds (returns as soon as none is)."""
    deadline = time.monotonic() + timeout
    while (alive := [p for p in procs if p.alive()]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def writing_to_full_pipe(pid: int) -> bool:
    """Whether a thread of `pid` is blocked in write(2) on a pipe (nobody reads it fast enough)."""
    write = _WRITE.get(platform.machine())
    if write is None:
        raise RuntimeError(f"no write(2) number for {platform.machine()}")
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            call = (task / "syscall").read_text().split()
        except OSError:
            continue
        if len(call) > 1 and call[0] == str(write):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{int(call[1], 16)}")
            except OSError:
                continue
            if target.startswith("pipe:"):
                return True
    return False
