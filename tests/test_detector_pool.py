"""Named detectors (`detectors: {name: card}`): each loaded once per process, errors naming the detector.

Two real models: the shipped NanoDet card (the "default") and a small generic boxes/scores/classes ONNX
made here (tests/support/onnx_models.py), on a real photo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from sentinel.detect.detectors import DEFAULT_DETECTOR, DetectorPool, ModelError, UnknownDetector
from sentinel.detect.detectors.generic import GenericOnnxDetector
from sentinel.detect.detectors.nanodet import NanoDetDetector
from sentinel.detect.settings import DetectorConfig
from tests.support.onnx_models import generic_model

REPO = Path(__file__).resolve().parents[1]
NANODET_CARD = REPO / "models" / "nanodet-g-416.yaml"


def fire_card(tmp_path: Path, *, with_model: bool = True) -> Path:
    """A generic card for a one-class "fire" model that always sees fire at the middle of its input."""
    if with_model:
        generic_model(
            tmp_path / "fire.onnx",
            np.array([[24, 16, 40, 48]], np.float32),
            np.array([0.8], np.float32),
            np.array([0], np.int64),
        )
    card = tmp_path / "fire.yaml"
    card.write_text(
        "name: fire\nbackend: generic\nfile: fire.onnx\ninput: {width: 64, height: 64}\n"
        "outputs: {boxes: boxes, scores: scores, classes: classes, box_units: pixels}\nclasses: [fire]\n"
        "licence: {weights: test fixture}\nprovenance: {source: tests/test_detector_pool.py}\n",
        encoding="utf-8",
    )
    return card


def test_two_named_detectors_each_load_once_and_detect(tmp_path: Path) -> None:
    pool = DetectorPool(
        {
            DEFAULT_DETECTOR: DetectorConfig(model=NANODET_CARD),
            "fire": DetectorConfig(model=fire_card(tmp_path), score_threshold=0.5),
            "people": DetectorConfig(model=NANODET_CARD),  # the same model and numbers as "default"
        }
    )
    assert pool.instances == 0  # nothing is loaded before it is asked for
    loaded = pool.load_all()
    assert list(loaded) == ["default", "fire", "people"]
    assert isinstance(loaded["default"], NanoDetDetector) and isinstance(loaded["fire"], GenericOnnxDetector)
    assert loaded["people"] is loaded["default"] and pool.instances == 2  # one session for both names
    assert pool.get() is loaded["default"] and pool.get("fire") is loaded["fire"]  # loaded once
    assert pool.get("fire").score_threshold == 0.5

    frame = np.ascontiguousarray(data.astronaut()[..., ::-1])
    (people,) = pool.get().detect([frame])
    assert people.class_id[0] == pool.get().class_names.index("person") and people.score[0] > 0.5
    (fire,) = pool.get("fire").detect([frame])
    assert pool.get("fire").class_names == ["fire"]
    np.testing.assert_allclose(fire.xyxy, [[0.375, 0.25, 0.625, 0.75]], atol=1e-6)


def test_other_numbers_make_another_instance(tmp_path: Path) -> None:
    pool = DetectorPool(
        {"default": DetectorConfig(model=NANODET_CARD), "strict": DetectorConfig(score_threshold=0.8)}
    )
    pool.load_all()
    assert pool.instances == 2 and pool.get("strict").score_threshold == 0.8


def test_a_missing_model_is_named_by_its_detector(tmp_path: Path) -> None:
    pool = DetectorPool(
        {
            "default": DetectorConfig(model=NANODET_CARD),
            "fire": DetectorConfig(model=fire_card(tmp_path, with_model=False)),
        }
    )
    with pytest.raises(ModelError) as err:
        pool.load_all()
    msg = str(err.value)
    assert msg.startswith("detector 'fire': model file not found:") and "fire.onnx" in msg and "\n" not in msg


def test_an_unknown_name_lists_the_configured_ones() -> None:
    pool = DetectorPool({"default": DetectorConfig(model=NANODET_CARD)})
    with pytest.raises(UnknownDetector, match=r"no detector named 'smoke' \(configured: default\)"):
        pool.get("smoke")
    assert pool.instances == 0
