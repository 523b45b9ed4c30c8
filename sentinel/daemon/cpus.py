"""How many CPUs this process may really use: the affinity mask (taskset, a container's cpuset) and the
cgroup CPU quota (docker --cpus, Kubernetes limits), not `os.cpu_count()`, which counts the host's cores.
A worker pool sized from the host's count on a 2-CPU container of a 64-core host starts 64 detectors that
then fight over 2 cores."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def affinity_cpus() -> int:
    """CPUs in this process's affinity mask (the host's count where the platform has no mask)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def quota_cpus(root: Path = CGROUP_ROOT) -> float | None:
    """The cgroup's CPU quota in CPUs (quota / period), or None when unlimited or unreadable.
    cgroup v2 keeps it in `cpu.max` ("max 100000" or "150000 100000"), v1 in cpu.cfs_quota_us / cpu.cfs_period_us."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        q = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        p = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return q / p if q > 0 and p > 0 else None


def usable_cpus(root: Path = CGROUP_ROOT) -> int:
    """Whole CPUs this process may use: the affinity count, capped by the quota rounded up (1.5 CPUs of
    quota keep two workers busy part time rather than one full time)."""
    n = affinity_cpus()
    quota = quota_cpus(root)
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)
