"""Counts in the CLI's words: "1 camera", "1 alert", "1 device", never "1 cameras" (`sentinel check` has its
own test in tests/test_setup_loose_ends.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.cli.main import main
from sentinel.cli.nodes import held
from sentinel.cli.replay import summary
from tests.test_calibrate import GOOD, write


@pytest.mark.parametrize(
    ("frames", "alerts", "expected"),
    [(1, 1, "1 frame over 1.0 s of video in 0.5 s (2.0x real time); 1 alert"),
     (80, 0, "80 frames over 1.0 s of video in 0.5 s (2.0x real time); 0 alerts"),
     (2, 3, "2 frames over 1.0 s of video in 0.5 s (2.0x real time); 3 alerts")],
)  # fmt: skip
def test_replay_summary_counts_in_words(frames: int, alerts: int, expected: str) -> None:
    assert summary(Path("clip.mp4"), frames, 1.0, 0.5, alerts) == f"clip.mp4: {expected}"


@pytest.mark.parametrize(
    ("count", "most", "expected"),
    [
        (1, 0, "1 camera"),
        (0, 0, "0 cameras"),
        (6, 0, "6 cameras"),
        (1, 1, "1/1 camera"),
        (2, 4, "2/4 cameras"),
    ],
)
def test_nodes_counts_cameras_in_words(count: int, most: int, expected: str) -> None:
    assert held(count, most) == expected


def test_calibrate_with_one_point_says_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path, GOOD.splitlines()[0] + "\n")
    assert main(["camera", "calibrate", "cam", "--config", str(config)]) == 1
    assert "camera cam: 1 control point; a homography needs at least 4" in capsys.readouterr().err
