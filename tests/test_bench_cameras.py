"""Smoke test of `bench/cameras.py`: 2 cameras, a short window, `--json`. It checks the figures are there and
make sense as facts (frames were analysed, alerts came for every camera, memory was measured, the baseline
ran), never how fast anything was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
MISSING_TOOL = 3  # bench/cameras.py: something the rig needs is not installed


def test_bench_cameras_smoke(tmp_path: Path) -> None:
    out = tmp_path / "cameras.json"
    cmd = [sys.executable, str(REPO / "bench" / "cameras.py"), "--cameras", "2", "--seconds", "15",
           "--warmup", "5", "--json", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=REPO)
    if proc.returncode == MISSING_TOOL:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "CPU curve, footage busy" in proc.stdout and "core-s/cam-s" in proc.stdout

    doc = json.loads(out.read_text())
    assert doc["bench"] == "cameras" and doc["args"]["cameras"] == [2]
    [result] = doc["results"]
    assert result["cameras"] == 2 and len(result["runs"]) == 1
    run = result["runs"][0]

    s = run["sentinel"]
    assert s["cameras"] == 2 and s["asked_fps"] == 0.5
    assert s["analysed_fps"]["median"] > 0 and s["analysed_fps"]["min"] > 0
    assert s["cpu_s_per_camera_s"] > 0 and s["cameras_per_core"] > 0
    assert s["memory_mb"]["pss"] > 0 and s["memory_mb"]["rss"] >= s["memory_mb"]["pss"]
    assert s["processes"] >= 2  # the supervisor and at least one analysis worker
    assert all(n > 0 for n in s["alerts"]["per_camera_total"].values()), s["alerts"]
    assert set(s["alerts"]["per_camera_total"]) == {"cam01", "cam02"}
    assert s["dropped_frames"] >= 0
    assert len(s["loadavg_start"]) == 3
    for key in ("latency_p50_s", "latency_p95_s", "first_half_p50_s", "second_half_p50_s"):
        assert key in s["alerts"]
    assert "outbox_depth_end" in s["backlog"]

    b = run["baseline"]
    assert b["cameras"] == 2
    assert b["read_fps"]["median"] > 0 and b["analysed_fps"]["median"] > 0
    assert b["cpu_s_per_camera_s"] > 0 and b["memory_mb"]["pss"] > 0
    # the ratio only where both kept up (a loaded machine may hold one back: then it says why)
    if run["ratio_withheld"] is None:
        assert run["cameras_per_core_ratio"] > 0
    else:
        assert run["cameras_per_core_ratio"] is None and run["ratio_raw"] > 0
    for phase in (s, b):  # the rig's counters came with every window
        assert phase["rig_frames"]["pushed"] > 0 and phase["rig_cpu_cores"] > 0

    summary = result["summary"]
    assert summary["cpu_s_per_camera_s"] == s["cpu_s_per_camera_s"]
    assert summary["ratio"] == run["cameras_per_core_ratio"]


def test_bench_cameras_says_what_is_wrong(tmp_path: Path) -> None:
    """Footage that is not there: one clear line, no traceback."""
    cmd = [sys.executable, str(REPO / "bench" / "cameras.py"), "--footage", str(tmp_path / "nope.mp4")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO)
    if proc.returncode == MISSING_TOOL:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 1
    assert "nope.mp4: no such file" in proc.stderr and "Traceback" not in proc.stderr
