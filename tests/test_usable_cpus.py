"""The worker pool is sized from the CPUs the process may use: its affinity mask and its cgroup quota."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sentinel.daemon.cpus import quota_cpus, usable_cpus


def test_cgroup_v2_quota_caps_the_count(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert quota_cpus(tmp_path) == 1.5
    assert usable_cpus(tmp_path) == min(2, len(os.sched_getaffinity(0)))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert quota_cpus(tmp_path) is None
    assert usable_cpus(tmp_path) == len(os.sched_getaffinity(0))


def test_cgroup_v1_quota_and_no_cgroup(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert quota_cpus(tmp_path) == 0.5 and usable_cpus(tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # v1's "unlimited"
    assert quota_cpus(tmp_path) is None
    assert quota_cpus(tmp_path / "absent") is None


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to one")
def test_a_process_pinned_to_one_cpu_plans_one_worker(tmp_path: Path) -> None:
    """A real affinity mask (taskset's system call) in a child process: two cameras, one worker."""
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "from sentinel.daemon.workers import plan_workers;"
        "from sentinel.config.models import CameraConfig;"
        "cams = [CameraConfig.model_validate({'id': f'c{i}', 'source': '/dev/null'}) for i in range(2)];"
        "print(len(plan_workers(cams, 0)), len(plan_workers(cams, 2)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "2"]
