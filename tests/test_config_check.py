"""`sentinel check`: every broken config gives `FILE:LINE: key.path: message` and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sentinel.cli.main import main
from sentinel.config.loader import load_config
from tests.support.onnx_models import constant_outputs_model

REPO = Path(__file__).resolve().parents[1]

GOOD_CAMERA = """\
cameras:
  - id: cam1
    source: rtsp://admin:${CAM_PW}@127.0.0.1:8554/cam1
    zones:
      - name: plaza
        polygon: [[0, 0.2], [1, 0.2], [1, 1], [0, 1]]
    rules:
      - kind: count_in_zone
        event_type: crowd_gathering
        zone: plaza
        min_count: 3
"""


def write(tmp_path: Path, text: str, name: str = "sentinel.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check", "--config", str(path)])
    out = capsys.readouterr()
    return code, out.err + out.out


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_PW", "s3cret-pw")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)


def test_good_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run_check(write(tmp_path, GOOD_CAMERA), capsys)
    assert code == 0, text
    assert "OK" in text and "1 camera," in text
    assert "s3cret-pw" not in text


def test_shipped_sample_config_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run_check(REPO / "config" / "sentinel.yaml", capsys)
    assert code == 0, text


BROKEN = [
    pytest.param(
        "cameras:\n  - id: cam1\n    source: [unclosed\n",
        4,
        "",
        "invalid YAML",
        id="bad-yaml",
    ),
    pytest.param(
        GOOD_CAMERA.replace("    zones:", "    colour: red\n    zones:"),
        4,
        "cameras[0].colour",
        "unknown key",
        id="unknown-camera-key",
    ),
    pytest.param(
        "mqtt:\n  url: mqtt://127.0.0.1:1883\n  qos: 2\n" + GOOD_CAMERA,
        3,
        "mqtt.qos",
        "unknown key",
        id="unknown-section-key",
    ),
    pytest.param(
        GOOD_CAMERA.replace("[[0, 0.2], [1, 0.2], [1, 1], [0, 1]]", "[[0, 0], [1, 1], [1, 0], [0, 1]]"),
        6,
        "cameras[0].zones[0].polygon",
        "crosses itself",
        id="self-crossing-polygon",
    ),
    pytest.param(
        GOOD_CAMERA.replace("[[0, 0.2], [1, 0.2], [1, 1], [0, 1]]", "[[0, 0.2], [1.5, 0.2], [1, 1]]"),
        6,
        "cameras[0].zones[0].polygon",
        "outside the image",
        id="polygon-out-of-range",
    ),
    pytest.param(
        GOOD_CAMERA.replace("[[0, 0.2], [1, 0.2], [1, 1], [0, 1]]", "[[0, 0.2], [1, 0.2]]"),
        6,
        "cameras[0].zones[0].polygon",
        "at least 3 points",
        id="polygon-two-points",
    ),
    pytest.param(
        GOOD_CAMERA + "  - id: cam1\n    source: /tmp/x.mp4\n",
        12,
        "cameras[1].id",
        "duplicate camera id 'cam1'",
        id="duplicate-camera-id",
    ),
    pytest.param(
        GOOD_CAMERA.replace("${CAM_PW}", "${NOT_SET_ANYWHERE}"),
        3,
        "cameras[0].source",
        "environment variable NOT_SET_ANYWHERE is not set",
        id="unset-env",
    ),
    pytest.param(
        GOOD_CAMERA.replace("zone: plaza", "zone: plazza"),
        2,
        "cameras[0]",
        "names zone 'plazza', which is not defined",
        id="unknown-zone",
    ),
    pytest.param(
        GOOD_CAMERA.replace("kind: count_in_zone", "kind: count_heads"),
        8,
        "cameras[0].rules[0]",
        "unknown rule kind 'count_heads'",
        id="unknown-rule-kind",
    ),
    pytest.param(
        GOOD_CAMERA.replace("event_type: crowd_gathering", "event_type: crowd_gatherin"),
        9,
        "cameras[0].rules[0].event_type",
        "unknown event type 'crowd_gatherin'",
        id="unknown-event-type",
    ),
    pytest.param(
        GOOD_CAMERA.replace("min_count: 3", "min_count: 3\n        min_duration: 10 minutes"),
        12,
        "cameras[0].rules[0].min_duration",
        "not a duration",
        id="bad-duration",
    ),
    pytest.param(
        GOOD_CAMERA.replace("min_count: 3", "min_count: 3\n        classes: [person, unicorn]"),
        12,
        "cameras[0].rules[0].classes[1]",
        "has no class 'unicorn'",
        id="class-not-in-model",
    ),
    pytest.param(
        "detector:\n  model: missing/model.yaml\n" + GOOD_CAMERA,
        2,
        "detector.model",
        "model.yaml",
        id="missing-model-card",
    ),
    pytest.param(
        GOOD_CAMERA.replace("rtsp://admin", "ftp://admin"),
        3,
        "cameras[0].source",
        "unsupported URL scheme",
        id="bad-url-scheme",
    ),
    pytest.param(
        "site:\n  timezone: Mars/Olympus\n" + GOOD_CAMERA,
        2,
        "site.timezone",
        "unknown time zone",
        id="bad-timezone",
    ),
    pytest.param(
        GOOD_CAMERA.replace("    zones:", '    grid: "1101"\n    zones:'),
        4,
        "cameras[0].grid",
        "String should match pattern",
        id="bad-grid-code",
    ),
    pytest.param(
        "cameras:\n  - id: cam0\n    source: /tmp/x.mp4\n  - just-a-string\n",
        4,
        "cameras[1]",
        "valid dictionary",
        id="scalar-camera",
    ),
    pytest.param(
        GOOD_CAMERA + "      - just-a-rule\n",
        12,
        "cameras[0].rules[1]",
        "valid dictionary",
        id="scalar-rule",
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "message"), BROKEN)
def test_broken_config_names_file_line_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, key: str, message: str
) -> None:
    path = write(tmp_path, text)
    code, out = run_check(path, capsys)
    assert code == 2, out
    expected_prefix = f"{path}:{line}: {key}: " if key else f"{path}:{line}: "
    lines = out.strip().splitlines()
    assert any(ln.startswith(expected_prefix) and message in ln for ln in lines), out
    assert "Traceback" not in out
    assert "s3cret-pw" not in out


def test_model_file_missing_next_to_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = (REPO / "models" / "nanodet-g-416.yaml").read_text(encoding="utf-8")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "card.yaml").write_text(card, encoding="utf-8")  # card without its .onnx
    path = write(tmp_path, "detector:\n  model: models/card.yaml\n" + GOOD_CAMERA)
    code, out = run_check(path, capsys)
    assert code == 2
    assert out.startswith(f"{path}:2: detector.model: ") and "nanodet-g-416.onnx" in out, out


def shipped_card_copy(tmp_path: Path, onnx_name: str) -> Path:
    """The shipped NanoDet card, copied into tmp_path/models with its `file:` naming `onnx_name`."""
    card = (REPO / "models" / "nanodet-g-416.yaml").read_text(encoding="utf-8")
    assert "file: nanodet-g-416.onnx\n" in card
    (tmp_path / "models").mkdir(exist_ok=True)
    path = tmp_path / "models" / f"{Path(onnx_name).stem}.yaml"
    path.write_text(card.replace("file: nanodet-g-416.onnx\n", f"file: {onnx_name}\n"), encoding="utf-8")
    return path


def wrong_shape_model(path: Path) -> Path:
    """A valid ONNX graph with the shipped card's input and output names, every output of the wrong shape."""
    names = [f"Identity{s}:0" for s in ("", "_1", "_2", "_3", "_4", "_5")]
    outputs = {name: np.zeros((1, 7, 3), np.float32) for name in names}
    return constant_outputs_model(path, outputs, size=(416, 416), input_name="input_1:0")


def test_garbage_model_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = shipped_card_copy(tmp_path, "garbage.onnx")
    (tmp_path / "models" / "garbage.onnx").write_bytes(b"this is not an ONNX graph\n" * 100)
    path = write(tmp_path, "detector:\n  model: models/garbage.yaml\n" + GOOD_CAMERA)
    code, out = run_check(path, capsys)
    assert code == 2, out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith(f"{path}:2: detector.model: ") and "garbage.onnx" in lines[0], out
    assert "Traceback" not in out and card.is_file()


def test_named_detector_with_the_wrong_output_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped_card_copy(tmp_path, "wrong.onnx")
    wrong_shape_model(tmp_path / "models" / "wrong.onnx")
    path = write(tmp_path, "detectors:\n  plates:\n    model: models/wrong.yaml\n" + GOOD_CAMERA)
    code, out = run_check(path, capsys)
    assert code == 2, out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith(f"{path}:3: detectors.plates.model: "), out
    assert "wrong.onnx" in lines[0] and "does not match its card" in lines[0], out


def test_a_good_named_detector_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = REPO / "models" / "nanodet-g-416.yaml"
    path = write(tmp_path, f"detectors:\n  second:\n    model: {model}\n" + GOOD_CAMERA)
    code, out = run_check(path, capsys)
    assert code == 0, out


def test_errors_in_cameras_file_name_that_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, GOOD_CAMERA.replace("min_count: 3", "min_count: 0"), name="cameras.yaml")
    path = write(tmp_path, "site:\n  id: s1\ncameras_file: cameras.yaml\n")
    code, out = run_check(path, capsys)
    assert code == 2
    assert out.startswith(f"{tmp_path / 'cameras.yaml'}:11: cameras[0].rules[0].min_count: "), out


def test_scalar_camera_in_cameras_file_has_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "cameras:\n  - 42\n", name="cameras.yaml")
    path = write(tmp_path, "cameras_file: cameras.yaml\n")
    code, out = run_check(path, capsys)
    assert code == 2
    assert out.startswith(f"{tmp_path / 'cameras.yaml'}:2: cameras[0]: "), out


def test_all_problems_reported_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "site:\n  colour: red\n" + GOOD_CAMERA.replace("min_count: 3", "min_count: -1").replace(
        "zones:", "zonez:"
    )
    code, out = run_check(write(tmp_path, text), capsys)
    assert code == 2
    assert len(out.strip().splitlines()) >= 3, out


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_check(tmp_path / "nope.yaml", capsys)
    assert code == 2
    assert "nope.yaml: file not found" in out


def test_missing_cameras_file_is_told_at_the_key_that_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a name with a colon in it must not make the message ambiguous: the line is the referring file's
    path = write(tmp_path, "site: {name: t}\ncameras_file: 'cams.yaml !!x:y'\n")
    code, out = run_check(path, capsys)
    assert code == 2
    assert f"{path}:2: cameras_file: file not found: {tmp_path / 'cams.yaml !!x:y'}" in out, out


def test_cli_subprocess_exit_code_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_CAMERA.replace("kind: count_in_zone", "kind: nope"))
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel.cli.main", "check", "--config", str(path)],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "CAM_PW": "x"}, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"{path}:8: cameras[0].rules[0]: unknown rule kind 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_durations_and_relative_paths(tmp_path: Path) -> None:
    text = "storage:\n  data_dir: data\n" + GOOD_CAMERA.replace(
        "min_count: 3", "min_count: 3\n        cooldown: 5m"
    )
    config = load_config(write(tmp_path, text))
    assert config.storage.data_dir == (tmp_path / "data").resolve()
    assert config.cameras[0].rules[0].cooldown == 300.0
    assert config.cameras[0].source.endswith("${CAM_PW}@127.0.0.1:8554/cam1")  # resolved only when opened


def test_event_type_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sentinel.config.event_types import effective_event_types

    text = (
        "event_types:\n  crowd_gathering: {deadline: 15m, auto_register: true}\n"
        "  bin_overflow: {name: 垃圾满溢, name_en: Bin overflow, code: '06042', severity: normal,"
        " rule_kind: static_object, deadline: 4h}\n"
        + GOOD_CAMERA.replace("event_type: crowd_gathering", "event_type: bin_overflow")
    )
    config = load_config(write(tmp_path, text))
    table = effective_event_types(config.event_types)
    assert table["crowd_gathering"].deadline == 900 and table["crowd_gathering"].auto_register
    assert table["crowd_gathering"].name == "人员聚集"  # untouched fields keep the shipped values
    assert table["bin_overflow"].code == "06042"
    broken = write(tmp_path, "event_types:\n  bin_overflow: {name: 垃圾满溢}\n" + GOOD_CAMERA, name="b.yaml")
    code, out = run_check(broken, capsys)
    assert code == 2 and f"{broken}:2: event_types.bin_overflow: a new event type needs every field" in out, (
        out
    )


def test_event_type_override_values_are_validated(tmp_path: Path) -> None:
    from sentinel.config.event_types import Severity, effective_event_types

    config = load_config(
        write(tmp_path, "event_types:\n  crowd_gathering: {severity: normal, deadline: 2h}\n" + GOOD_CAMERA)
    )
    table = effective_event_types(config.event_types)
    assert table["crowd_gathering"].severity is Severity.normal and table["crowd_gathering"].deadline == 7200


def test_check_warns_when_the_broker_lets_anyone_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.acl_broker import AclMosquitto
    from tests.support.servers import Mosquitto, free_port

    def check_with(url: str) -> str:
        path = write(tmp_path, f'mqtt: {{url: "{url}"}}\n' + GOOD_CAMERA)
        code, text = run_check(path, capsys)
        assert code == 0, text
        return text

    with Mosquitto() as open_broker:
        text = check_with(open_broker.url)
        assert f"warning: the broker {open_broker.url} accepts anonymous clients" in text
    with AclMosquitto({"sentinel-node": "Node-pa55-1a2b"}) as closed_broker:
        assert "warning" not in check_with(closed_broker.url)
    assert "warning" not in check_with(f"mqtt://127.0.0.1:{free_port()}")  # down: nothing to say
