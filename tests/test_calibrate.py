"""`sentinel camera calibrate`: reprojection error per control point, frame corners on the ground."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.cli.main import main

REPO = Path(__file__).resolve().parents[1]
GOOD = """\
      - {image: [0.0, 1.0], ground: [116.3972, 39.9080]}
      - {image: [1.0, 1.0], ground: [116.3996, 39.9080]}
      - {image: [1.0, 0.0], ground: [116.3996, 39.9094]}
      - {image: [0.0, 0.0], ground: [116.3972, 39.9094]}
"""


def write(tmp_path: Path, points: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(
        f"grid: {{cells: {REPO / 'config' / 'grid.geojson'}}}\n"
        "cameras:\n  - id: cam\n    source: /x.mp4\n    location: {lon: 116.3980, lat: 39.9060}\n"
        "    homography:\n" + points
    )
    return path


def test_good_points(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["camera", "calibrate", "cam", "--config", str(write(tmp_path, GOOD))])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "RMS error 0.00 m" in out
    assert "top-left: 116.397200, 39.909400" in out and "110101001001001 天街社区第一网格" in out
    assert "bottom-right: 116.399600, 39.908000" in out and "110101001001002" in out


def test_misclicked_point_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    points = GOOD + "      - {image: [0.5, 0.5], ground: [116.3990, 39.9087]}\n"
    code = main(["camera", "calibrate", "cam", "--config", str(write(tmp_path, points))])
    captured = capsys.readouterr()
    assert code == 1
    assert "points [4] are off by more than 2.0 m" in captured.err
    assert "<-- check this point" in captured.out.splitlines()[6]


def test_too_few_points(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "camera",
            "calibrate",
            "cam",
            "--config",
            str(write(tmp_path, "\n".join(GOOD.splitlines()[:3]) + "\n")),
        ]
    )
    assert code == 1
    assert "3 control points; a homography needs at least 4" in capsys.readouterr().err
