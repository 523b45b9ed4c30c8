"""The NanoDet backend against the real shipped model and real photos (scikit-image's bundled images).

Reference boxes were measured by hand on the images (pixels, x1 y1 x2 y2); the detections must overlap
them, so a wrong decode (strides, DFL, centres, letterbox undo, x/y order) fails, not just "no box".
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from sentinel.detect.detections import Detections
from sentinel.detect.detectors import ModelError, load_model_card, load_nanodet
from sentinel.detect.detectors.nanodet import NanoDetDetector
from sentinel.detect.detectors.postprocess import nms_classwise

REPO = Path(__file__).resolve().parents[1]
CARD = REPO / "models" / "nanodet-g-416.yaml"
MODEL = REPO / "models" / "nanodet-g-416.onnx"

ASTRONAUT_PERSON = (20, 15, 365, 512)  # in the 512x512 image: hair top to the bottom edge, suit sides
CHELSEA_CAT = (0, 0, 390, 300)  # in the 451x300 image: the cat's head fills it up to the right ear
MOTORCYCLE = (95, 75, 685, 455)  # in the 741x500 motorcycle_left image: tail light to front tyre


def bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[..., ::-1])


def iou(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def normalised(box: Sequence[float], w: int, h: int) -> tuple[float, ...]:
    return (box[0] / w, box[1] / h, box[2] / w, box[3] / h)


def best(det: Detections, class_id: int, ref: tuple[float, ...]) -> tuple[float, float]:
    """(score, IoU with ref) of the detection of class_id overlapping ref most."""
    cands = [
        (iou(b, ref), float(s))
        for b, s, c in zip(det.xyxy, det.score, det.class_id, strict=True)
        if c == class_id
    ]
    if not cands:
        return 0.0, 0.0
    o, s = max(cands)
    return s, o


@pytest.fixture(scope="module")
def detector() -> NanoDetDetector:
    return load_nanodet(CARD)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return bgr(data.astronaut())


def test_card_matches_model_and_coco(detector: NanoDetDetector) -> None:
    card = load_model_card(CARD)
    assert card.backend == "nanodet"
    assert card.model_path == MODEL
    assert len(card.classes) == 80
    assert card.classes[0] == "person" and card.classes[15] == "cat" and card.classes[3] == "motorcycle"
    assert detector.class_names == card.classes
    assert detector.fixed_batch == 1


def test_astronaut_is_a_person_in_the_right_place(detector: NanoDetDetector, astronaut: np.ndarray) -> None:
    (det,) = detector.detect([astronaut])
    person = detector.class_names.index("person")
    score, overlap = best(det, person, normalised(ASTRONAUT_PERSON, 512, 512))
    assert score > 0.5
    assert overlap > 0.7
    assert det.xyxy.dtype == np.float32 and det.score.dtype == np.float32 and det.class_id.dtype == np.int32
    assert np.all((det.xyxy >= 0) & (det.xyxy <= 1))
    assert np.all(det.xyxy[:, 2] > det.xyxy[:, 0]) and np.all(det.xyxy[:, 3] > det.xyxy[:, 1])
    assert np.all(np.diff(det.score) <= 0), "sorted by descending score"


def test_chelsea_is_a_cat(detector: NanoDetDetector) -> None:
    (det,) = detector.detect([bgr(data.chelsea())])
    score, overlap = best(det, detector.class_names.index("cat"), normalised(CHELSEA_CAT, 451, 300))
    assert score > 0.45
    assert overlap > 0.6
    assert det.class_id[0] == detector.class_names.index("cat"), "cat is the top detection"


def test_motorcycle_box_on_a_wide_frame(detector: NanoDetDetector) -> None:
    """Non-square frame: the letterbox must be undone on both axes."""
    (det,) = detector.detect([bgr(data.stereo_motorcycle()[0])])
    score, overlap = best(det, detector.class_names.index("motorcycle"), normalised(MOTORCYCLE, 741, 500))
    assert score > 0.6
    assert overlap > 0.75


@pytest.mark.parametrize("x0", [60, 860])
def test_person_found_where_it_was_pasted_in_a_720p_frame(
    detector: NanoDetDetector, astronaut: np.ndarray, x0: int
) -> None:
    """The astronaut at 360 px, left or right, in a grey 1280x720 frame: the box must follow it."""
    size, y0 = 360, 300
    frame = np.full((720, 1280, 3), 114, dtype=np.uint8)
    frame[y0 : y0 + size, x0 : x0 + size] = cv2.resize(astronaut, (size, size), interpolation=cv2.INTER_AREA)
    k = size / 512
    ref = tuple(v * k + off for v, off in zip(ASTRONAUT_PERSON, (x0, y0, x0, y0), strict=True))
    (det,) = detector.detect([frame])
    score, overlap = best(det, 0, normalised(ref, 1280, 720))
    assert score > 0.5
    assert overlap > 0.7


@pytest.mark.parametrize("value", [0, 128])
def test_uniform_frames_give_nothing(detector: NanoDetDetector, value: int) -> None:
    (det,) = detector.detect([np.full((720, 1280, 3), value, dtype=np.uint8)])
    assert len(det) == 0
    assert det.xyxy.shape == (0, 4)


def test_batch_keeps_frame_order(detector: NanoDetDetector, astronaut: np.ndarray) -> None:
    grey = np.full((720, 1280, 3), 128, dtype=np.uint8)
    single = detector.detect([astronaut])[0]
    first, second = detector.detect([astronaut, grey])
    assert len(first) >= 1 and first.class_id[0] == 0
    assert len(second) == 0
    again_grey, again_astronaut = detector.detect([grey, astronaut])
    assert len(again_grey) == 0
    np.testing.assert_allclose(again_astronaut.xyxy, single.xyxy, atol=1e-6)
    np.testing.assert_allclose(first.score, single.score, atol=1e-6)
    assert detector.detect([]) == []


def test_input_frame_is_not_modified(detector: NanoDetDetector, astronaut: np.ndarray) -> None:
    frame = astronaut.copy()
    detector.detect([frame])
    assert np.array_equal(frame, astronaut)


def test_rejects_non_bgr_uint8_frames(detector: NanoDetDetector) -> None:
    with pytest.raises(ValueError, match="uint8"):
        detector.detect([np.zeros((100, 100), dtype=np.uint8)])
    with pytest.raises(ValueError, match="uint8"):
        detector.detect([np.zeros((100, 100, 3), dtype=np.float32)])


def test_threshold_filters(astronaut: np.ndarray) -> None:
    strict = load_nanodet(CARD, score_threshold=0.9)
    assert len(strict.detect([astronaut])[0]) == 0


# ---------------------------------------------------------------- model errors


def card_copy(tmp_path: Path, *, with_model: bool, replace: tuple[str, str] | None = None) -> Path:
    text = CARD.read_text(encoding="utf-8")
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    card = tmp_path / "nanodet-g-416.yaml"
    card.write_text(text, encoding="utf-8")
    if with_model:
        (tmp_path / MODEL.name).symlink_to(MODEL)
    return card


def test_missing_model_file(tmp_path: Path) -> None:
    card = card_copy(tmp_path, with_model=False)
    with pytest.raises(ModelError) as err:
        load_nanodet(card)
    msg = str(err.value)
    assert "model file not found" in msg and "nanodet-g-416.onnx" in msg and str(card) in msg
    assert "\n" not in msg


def test_missing_model_path_given_directly() -> None:
    card = load_model_card(CARD)
    with pytest.raises(ModelError, match="nope.onnx"):
        NanoDetDetector(card, REPO / "models" / "nope.onnx")


def test_missing_card(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model card not found: .*absent.yaml"):
        load_nanodet(tmp_path / "absent.yaml")


def test_card_input_size_disagrees_with_model(tmp_path: Path) -> None:
    card = card_copy(
        tmp_path, with_model=True, replace=("  width: 416\n  height: 416\n", "  width: 320\n  height: 320\n")
    )
    with pytest.raises(ModelError) as err:
        load_nanodet(card)
    msg = str(err.value)
    assert "nanodet-g-416.onnx" in msg and "input shape" in msg and "320" in msg
    assert "\n" not in msg


def test_card_output_name_disagrees_with_model(tmp_path: Path) -> None:
    card = card_copy(tmp_path, with_model=True, replace=('boxes: "Identity_5:0"', 'boxes: "Identity_9:0"'))
    with pytest.raises(ModelError, match=r"nanodet-g-416\.onnx.*Identity_9:0"):
        load_nanodet(card)


def test_unreadable_and_invalid_cards(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("backend: [nanodet\n  file: x\n", encoding="utf-8")
    with pytest.raises(ModelError) as err:
        load_model_card(bad)
    assert "unreadable" in str(err.value) and "bad.yaml" in str(err.value) and "\n" not in str(err.value)

    typo = card_copy(tmp_path, with_model=True, replace=("reg_max: 10", "regmax: 10"))
    with pytest.raises(ModelError, match=r"invalid model card .*nanodet-g-416\.yaml: head\.") as err2:
        load_model_card(typo)
    assert "\n" not in str(err2.value)


def test_corrupt_model_file(tmp_path: Path) -> None:
    card = card_copy(tmp_path, with_model=False)
    (tmp_path / MODEL.name).write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match=r"model file unreadable: .*nanodet-g-416\.onnx"):
        load_nanodet(card)


def test_model_file_is_the_one_the_card_describes() -> None:
    import hashlib

    card = load_model_card(CARD)
    assert hashlib.sha256(MODEL.read_bytes()).hexdigest() == card.provenance.onnx_sha256


# ---------------------------------------------------------------- decoding maths


def test_dfl_decode_on_synthetic_outputs(detector: NanoDetDetector) -> None:
    """One confident cell at stride 16, row 10, col 5 (centre 88, 168 in the 416 input), with known
    bin distributions; the frame is 832x416, so it was letterboxed to 416x208 at y offset 104."""
    outs = []
    for stride in (8, 16, 32):
        n = (416 // stride) ** 2
        outs += [np.zeros((1, n, 80), np.float32), np.full((1, n, 44), -10.0, np.float32)]
    cell = 10 * 26 + 5
    outs[2][0, cell, 2] = 0.9  # class 2 (car)
    reg = outs[3][0, cell].reshape(4, 11)
    reg[0, [2, 3]] = 10.0  # left: expectation 2.5 bins -> 40 px (argmax would give 32)
    reg[1, 1] = 10.0  # top: 1 bin -> 16 px
    reg[2, [4, 6]] = 10.0  # right: 5 bins -> 80 px
    reg[3, 0] = 10.0  # bottom: 0 px
    placement = detector._place(832, 416)
    det = detector._decode(outs, 0, placement)
    assert det.class_id.tolist() == [2]
    np.testing.assert_allclose(det.score, [0.9])
    x1, y1, x2, y2 = 88 - 40, 168 - 16, 88 + 80, 168 - 0  # in the 416x416 input
    expected = [x1 / 416, (y1 - 104) / 208, x2 / 416, (y2 - 104) / 208]
    np.testing.assert_allclose(det.xyxy[0], expected, atol=1e-5)


# ---------------------------------------------------------------- NMS


def test_nms_is_per_class() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32)
    classes = np.array([0, 0, 1, 0], dtype=np.int32)
    keep = nms_classwise(boxes, scores, classes, iou=0.5, max_det=100)
    assert keep.tolist() == [0, 2, 3]
    assert nms_classwise(boxes, scores, classes, iou=0.5, max_det=2).tolist() == [0, 2]
    assert nms_classwise(boxes[:0], scores[:0], classes[:0], iou=0.5, max_det=10).size == 0


def test_copying_card_and_model_elsewhere_works(tmp_path: Path, astronaut: np.ndarray) -> None:
    card = tmp_path / CARD.name
    shutil.copyfile(CARD, card)
    (tmp_path / MODEL.name).symlink_to(MODEL)
    (det,) = load_nanodet(card).detect([astronaut])
    assert det.class_id[0] == 0
