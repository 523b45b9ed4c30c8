"""A second model as configuration: `detectors: {name: card}`, a camera or a rule choosing one.

Two real models: the shipped NanoDet (the `default`) and a one-class generic "fire" ONNX made here that
sees fire in the middle of every picture (tests/test_detector_pool.py:fire_card). The config is read by the
real loader and `sentinel check`; the replay runs the real pipeline over real footage with both detectors,
and the worker keeps serving a camera on the default model when another camera's model is missing.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import pytest

from sentinel.cli.main import main
from sentinel.config.loader import ConfigError, load_config
from sentinel.daemon.messages import CameraFailed
from sentinel.daemon.worker import WorkerRuntime, WorkerSpec
from sentinel.detect.detectors import DEFAULT_DETECTOR, load_detector
from sentinel.detect.settings import DetectorConfig, NamedDetectorConfig
from tests.support.footage import vtest_h264
from tests.test_detector_pool import fire_card


def write_config(tmp_path: Path, fire_classes: str = "[fire]", fire_detector: str = "fire") -> Path:
    fire_card(tmp_path)
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        textwrap.dedent(f"""\
            detectors:
              fire: {{model: fire.yaml, score_threshold: 0.5}}
            cameras:
              - id: plaza
                source: /dev/null
                decode: keyframes
                analyze_fps: 1
                rules:
                  - {{kind: count_in_zone, event_type: crowd_gathering, min_count: 3, min_duration: 4s,
                      cooldown: 30s}}
                  - {{kind: count_in_zone, event_type: crowd_gathering, classes: {fire_classes},
                      detector: {fire_detector}, min_count: 1, min_duration: 2s, cooldown: 10m}}
            """),
        encoding="utf-8",
    )
    return path


def test_the_config_names_detectors_and_check_reads_each_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path)
    config = load_config(path)
    settings = config.detector_settings()
    assert list(settings) == [DEFAULT_DETECTOR, "fire"]
    assert settings["fire"].model == (tmp_path / "fire.yaml").resolve()  # relative to the config file
    camera = config.cameras[0]
    assert camera.detector == DEFAULT_DETECTOR and [r.detector for r in camera.rules] == [None, "fire"]
    assert main(["check", "--config", str(path)]) == 0, capsys.readouterr().err

    # a class the *rule's* model lacks is named with that model, its detector and the line
    path = write_config(tmp_path, fire_classes="[smoke]")
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "sentinel.yaml:11: cameras[0].rules[1].classes[0]" in err
    assert "the model fire.yaml (detector 'fire') has no class 'smoke'" in err


def test_an_unknown_detector_name_is_a_line_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, fire_detector="smoke")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    (issue,) = err.value.issues
    assert issue.line == 12 and issue.path == "cameras[0].rules[1].detector"
    assert "unknown detector 'smoke' (known: default, fire" in issue.message

    # the camera's own choice (its rules' default) is checked alike
    text = (
        write_config(tmp_path)
        .read_text()
        .replace("    decode: keyframes", "    detector: plates\n    decode: keyframes")
    )
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    (issue,) = err.value.issues
    assert (
        issue.line == 6
        and issue.path == "cameras[0].detector"
        and "unknown detector 'plates'" in issue.message
    )

    (tmp_path / "named-default.yaml").write_text("detectors:\n  default: {model: fire.yaml}\n")
    with pytest.raises(ConfigError, match="'default' is the `detector:` section"):
        load_config(tmp_path / "named-default.yaml")


def test_replay_runs_each_rule_on_its_own_detector(tmp_path: Path) -> None:
    clip = vtest_h264(768, 576, fps=25, gop=25)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel.cli.main", "replay", str(clip), "--config",
         str(write_config(tmp_path)), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    labels = [{o["label"] for o in a["objects"]} for a in alerts]
    # the fire rule sees only the fire model's boxes (once: a 10-minute cooldown), the crowd rule only people
    assert labels.count({"fire"}) == 1
    assert {"person"} in labels and all(ls in ({"fire"}, {"person"}) for ls in labels)
    fire = alerts[labels.index({"fire"})]
    # the fire model's box (24..40, 16..48 of its 64 x 64 input) mapped back through the letterbox of a
    # 768 x 576 picture: 64 x 48 with 8 rows of padding above and below
    expected = [24 / 64, (16 - 8) / 48, 40 / 64, (48 - 8) / 48]
    assert fire["objects"][0]["box"] == pytest.approx(expected, abs=0.002)
    with av.open(str(out / "annotated.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) > 0


def test_a_camera_whose_model_is_missing_fails_alone(tmp_path: Path) -> None:
    fire_card(tmp_path)
    (tmp_path / "fire.onnx").unlink()
    config = load_config(write_config(tmp_path))  # written again: fire.onnx is back
    (tmp_path / "fire.onnx").unlink()
    plaza = config.cameras[0]
    people_only = plaza.model_copy(update={"id": "people", "rules": plaza.rules[:1]})
    settings = DetectorConfig()
    spec = WorkerSpec(
        0,
        [],
        settings,
        tmp_path / "cameras",
        detectors={"fire": NamedDetectorConfig(model=tmp_path / "fire.yaml")},
    )
    out: queue.Queue[object] = queue.Queue()
    runtime = WorkerRuntime(spec, out, load_detector(settings))  # type: ignore[arg-type]
    try:
        runtime.add(people_only)
        runtime.add(plaza)
        failed = [m for m in list(out.queue) if isinstance(m, CameraFailed)]
        assert [m.camera_id for m in failed] == ["plaza"]
        assert failed[0].error.startswith("detector 'fire': model file not found")
        assert list(runtime.feeds) == ["people"]  # the camera on the default model runs
    finally:
        runtime.stop_all()
