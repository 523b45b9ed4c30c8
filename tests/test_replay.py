"""`sentinel replay` over real footage: alerts as JSON lines, annotated video, contact sheet, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import cv2
import jsonschema
import pytest

from tests.support.footage import vtest_h264
from tests.test_config_check import shipped_card_copy, wrong_shape_model

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "sentinel" / "data" / "alert.schema.json").read_text())


def config(tmp_path: Path, min_count: int = 3) -> Path:
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        "cameras:\n"
        "  - id: plaza\n    source: /dev/null\n    decode: keyframes\n    analyze_fps: 1\n"
        "    zones: [{name: plaza, polygon: [[0, 0.25], [1, 0.25], [1, 1], [0, 1]]}]\n"
        "    rules:\n"
        f"      - {{kind: count_in_zone, event_type: crowd_gathering, zone: plaza, min_count: {min_count},"
        " min_duration: 4s, cooldown: 30s}\n"
    )
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentinel.cli.main", "replay", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_replay_writes_alerts_video_and_sheet(tmp_path: Path) -> None:
    clip = vtest_h264(768, 576, fps=25, gop=25)  # a keyframe every second
    out = tmp_path / "out"
    proc = run(str(clip), "--config", str(config(tmp_path)), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = (out / "alerts.jsonl").read_text().splitlines()
    assert lines, proc.stdout
    alerts = [json.loads(line) for line in lines]
    for alert in alerts:
        jsonschema.validate(alert, SCHEMA)
        assert (out / alert["snapshot"]["url"].removeprefix("/media/")).is_file()
    # cooldown 30 s over ~80 s of footage: at most 3 gatherings reported
    assert 1 <= len(alerts) <= 3
    frames_line = proc.stdout.splitlines()[0]
    analysed = int(frames_line.split(": ")[1].split(" frames")[0])
    assert 70 <= analysed <= 82  # one look per keyframe over 79.5 s
    with av.open(str(out / "annotated.mp4")) as c:
        decoded = sum(1 for _ in c.decode(video=0))
    assert decoded == analysed
    sheet = cv2.imread(str(out / "contact_sheet.jpg"))
    assert sheet is not None and sheet.shape[1] == 4 * 320
    assert "%" in proc.stderr  # progress was shown


def test_replay_errors_are_clear(tmp_path: Path) -> None:
    proc = run(str(tmp_path / "missing.mp4"), "--config", str(config(tmp_path)), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1
    assert "missing.mp4: no such file" in proc.stderr and "Traceback" not in proc.stderr
    clip = vtest_h264(768, 576, fps=25, gop=25)
    proc = run(str(clip), "--config", str(config(tmp_path)), "--camera", "nope", "--out", str(tmp_path / "o"))
    assert proc.returncode == 1 and "no camera 'nope'" in proc.stderr
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 1000)
    proc = run(str(garbage), "--config", str(config(tmp_path)), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1 and "invalid data" in proc.stderr, proc.stderr


@pytest.mark.parametrize("kind", ["garbage", "wrong-shape"])
def test_replay_with_a_broken_model_is_one_line(tmp_path: Path, kind: str) -> None:
    name = "broken.onnx"
    shipped_card_copy(tmp_path, name)
    if kind == "garbage":
        (tmp_path / "models" / name).write_bytes(b"\x08\x07garbage, not a protobuf" * 50)
    else:
        wrong_shape_model(tmp_path / "models" / name)
    path = config(tmp_path)
    path.write_text("detector:\n  model: models/broken.yaml\n" + path.read_text())
    clip = vtest_h264(768, 576, fps=25, gop=25)
    proc = run(str(clip), "--config", str(path), "--out", str(tmp_path / "o"))
    assert proc.returncode in (1, 2), proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"{path}:2: detector.model: ") and name in lines[0], proc.stderr
    assert not (tmp_path / "o" / "alerts.jsonl").exists()
