"""A posted_text rule in a config: `sentinel check` accepts it with the wheel's OCR model, and a missing or
broken `ocr_models` folder is one line, `FILE:LINE: key: message`, exit 2, no traceback."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sentinel.cli.main import main
from sentinel.detect.text_reader import TextReader

CAMERA = """\
cameras:
  - id: wall-cam
    source: rtsp://127.0.0.1:8554/wall
    zones:
      - name: facade
        polygon: [[0, 0], [0.16, 0], [0.16, 0.31], [0, 0.31]]
    rules:
      - kind: posted_text
        event_type: illegal_small_ads
        zone: facade
        min_duration: 2m
      - kind: posted_text
        event_type: illegal_banner
        text_shape: banner
        zone: facade
"""


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[Path, int, str]:
    path = tmp_path / "sentinel.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    code = main(["check", "--config", str(path)])
    out = capsys.readouterr()
    return path, code, out.err + out.out


def test_a_wall_camera_with_both_text_rules_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, code, out = check(tmp_path, CAMERA, capsys)
    assert code == 0, out


@pytest.mark.parametrize("broken", [False, True], ids=["missing", "not-onnx"])
def test_a_bad_ocr_model_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], broken: bool
) -> None:
    models = tmp_path / "ocr"
    if broken:
        models.mkdir()
        for name in (TextReader.DET_FILE, TextReader.REC_FILE):
            (models / name).write_bytes(b"not an onnx graph\n" * 50)
    text = CAMERA.replace(
        "        min_duration: 2m\n", f"        min_duration: 2m\n        ocr_models: {models}\n"
    )
    path, code, out = check(tmp_path, text, capsys)
    lines = out.strip().splitlines()
    assert code == 2 and len(lines) == 1, out
    assert lines[0].startswith(f"{path}:12: cameras[0].rules[0].ocr_models: OCR: "), out
    assert str(models / TextReader.DET_FILE if not broken else models) in lines[0]
    assert "Traceback" not in out
