"""Detector backends behind the factory: YOLO v5 / v8 / v11 layouts and the generic boxes/scores/classes
backend, against tiny ONNX graphs (tests/support/onnx_models.py) whose outputs are known constants.

Geometry used throughout: a 64x64 model input. A 200x100 frame is letterboxed at scale 0.32 to 64x32
at y offset 16; a 100x200 frame to 32x64 at x offset 16. The candidate box BOX_IN (model-input pixels
x1 16, y1 28, x2 24, y2 32; centre 20, 30, size 8x4) is therefore, in original-frame pixels,
x 50..75, y 37.5..50 in the wide frame and x 0..25, y 87.5..100 in the tall one.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sentinel.detect.detectors import backend_names, load_detector, load_model_card, load_nanodet
from sentinel.detect.detectors.cards import ModelError, OnnxInputSpec, YoloCard
from sentinel.detect.detectors.class_names import parse_class_names
from sentinel.detect.detectors.generic import GenericOnnxDetector
from sentinel.detect.detectors.letterbox import Letterbox
from sentinel.detect.detectors.nanodet import NanoDetDetector
from sentinel.detect.detectors.yolo import YoloDetector
from tests.support.onnx_models import generic_model, yolo_model

REPO = Path(__file__).resolve().parents[1]
NANODET_CARD = REPO / "models" / "nanodet-g-416.yaml"

CLASSES = ["person", "bicycle", "car"]
BOX_IN = (16.0, 28.0, 24.0, 32.0)  # x1 y1 x2 y2 in the 64x64 model input
CXCYWH = (20.0, 30.0, 8.0, 4.0)
WIDE, TALL = (200, 100), (100, 200)  # frame (width, height)
EXPECTED_PX = {WIDE: (50.0, 37.5, 75.0, 50.0), TALL: (0.0, 87.5, 25.0, 100.0)}
N_CANDIDATES = 20  # rows in every stand-in output (the rest are empty), more than 4/5 + classes


def frame(size: tuple[int, int], value: int = 90) -> np.ndarray:
    w, h = size
    return np.full((h, w, 3), value, dtype=np.uint8)


def normalised(box_px: tuple[float, ...], size: tuple[int, int]) -> list[float]:
    w, h = size
    return [box_px[0] / w, box_px[1] / h, box_px[2] / w, box_px[3] / h]


def v8_rows(*cands: tuple[tuple[float, ...], list[float]], n: int = N_CANDIDATES) -> np.ndarray:
    """[n, 4 + C]: each candidate (cx, cy, w, h) with its class scores; the other rows all zero."""
    c = len(cands[0][1])
    rows = np.zeros((n, 4 + c), np.float32)
    for i, (box, scores) in enumerate(cands):
        rows[i] = [*box, *scores]
    return rows


def v5_rows(*cands: tuple[tuple[float, ...], float, list[float]], n: int = N_CANDIDATES) -> np.ndarray:
    """[n, 5 + C]: each candidate (cx, cy, w, h), objectness, class scores; the other rows all zero."""
    c = len(cands[0][2])
    rows = np.zeros((n, 5 + c), np.float32)
    for i, (box, obj, scores) in enumerate(cands):
        rows[i] = [*box, obj, *scores]
    return rows


def yolo_card(
    tmp_path: Path,
    backend: str,
    model: Path,
    classes: list[str] | None = CLASSES,
    extra: str = "",
    name: str = "card.yaml",
) -> Path:
    """A card in the documented short form (Ultralytics input defaults)."""
    text = (
        f"name: stand-in\nbackend: {backend}\nfile: {model.name}\n"
        "input: {width: 64, height: 64}\n"
        "licence: {weights: test fixture}\n"
        "provenance: {source: tests/support/onnx_models.py}\n"
    )
    if classes is not None:
        text += "classes: [" + ", ".join(classes) + "]\n"
    card = tmp_path / name
    card.write_text(text + extra, encoding="utf-8")
    return card


def generic_card(
    tmp_path: Path, model: Path, box_units: str = "pixels", outputs: tuple[str, str, str] | None = None
) -> Path:
    boxes, scores, classes = outputs or ("boxes", "scores", "classes")
    card = tmp_path / "generic.yaml"
    card.write_text(
        f"""\
name: stand-in-generic
backend: generic
file: {model.name}
input:
  width: 64
  height: 64
outputs:
  boxes: {boxes}
  scores: {scores}
  classes: {classes}
  box_units: {box_units}
classes: [person, bicycle, car]
licence:
  weights: test fixture
provenance:
  source: tests/support/onnx_models.py
""",
        encoding="utf-8",
    )
    return card


def one_line_error(err: pytest.ExceptionInfo[ModelError], *parts: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


# ---------------------------------------------------------------- YOLO v8 / v11 layout


@pytest.mark.parametrize("size", [WIDE, TALL], ids=["wide", "tall"])
@pytest.mark.parametrize("backend", ["yolov8", "yolov11"])
def test_v8_layout_box_lands_where_it_is_in_the_original_frame(
    tmp_path: Path, backend: str, size: tuple[int, int]
) -> None:
    model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.1, 0.9])), layout="v8")
    det = load_detector(yolo_card(tmp_path, backend, model), score_threshold=0.35)
    assert isinstance(det, YoloDetector) and det.card.layout == "v8"
    (out,) = det.detect([frame(size)])
    assert out.class_id.tolist() == [2]
    np.testing.assert_allclose(out.score, [0.9], rtol=1e-6)
    np.testing.assert_allclose(out.xyxy[0], normalised(EXPECTED_PX[size], size), atol=1e-6)
    assert out.xyxy.dtype == np.float32 and out.score.dtype == np.float32 and out.class_id.dtype == np.int32


def test_nms_removes_the_duplicate_but_not_other_classes(tmp_path: Path) -> None:
    rows = v8_rows(
        ((20, 30, 8, 4), [0.9, 0.0, 0.0]),  # person
        ((21, 30, 8, 4), [0.8, 0.0, 0.0]),  # the same person, 1 px right: IoU 0.78 -> suppressed
        ((20, 30, 8, 4), [0.0, 0.0, 0.7]),  # same place, other class: kept
        ((50, 50, 8, 8), [0.6, 0.0, 0.0]),  # another person elsewhere: kept
        ((40, 40, 8, 8), [0.3, 0.0, 0.0]),  # below the threshold
    )
    model = yolo_model(tmp_path / "m.onnx", rows, layout="v8")
    det = load_detector(yolo_card(tmp_path, "yolov8", model), score_threshold=0.35, nms_iou=0.6)
    (out,) = det.detect([frame(WIDE)])
    np.testing.assert_allclose(out.score, [0.9, 0.7, 0.6], rtol=1e-6)
    assert out.class_id.tolist() == [0, 2, 0]
    # a looser IoU threshold keeps the duplicate: the test above really exercised NMS
    loose = load_detector(yolo_card(tmp_path, "yolov8", model), score_threshold=0.35, nms_iou=0.9)
    assert len(loose.detect([frame(WIDE)])[0]) == 4


# ---------------------------------------------------------------- YOLO v5 layout


def test_v5_objectness_multiplies_the_class_score(tmp_path: Path) -> None:
    rows = v5_rows(
        (CXCYWH, 0.5, [0.1, 0.8, 0.0]),  # 0.5 x 0.8 = 0.4: bicycle, kept
        ((40, 40, 8, 8), 0.9, [0.32, 0.0, 0.0]),  # 0.9 x 0.32 = 0.288 < 0.3 although both are above it
        ((50, 20, 8, 8), 0.2, [0.0, 0.0, 1.0]),  # objectness 0.2: dropped
        ((10, 50, 6, 6), 1.0, [0.0, 0.0, 0.95]),  # car 0.95
    )
    model = yolo_model(tmp_path / "m.onnx", rows, layout="v5")
    det = load_detector(yolo_card(tmp_path, "yolov5", model), score_threshold=0.3)
    assert isinstance(det, YoloDetector) and det.card.layout == "v5"
    (out,) = det.detect([frame(WIDE)])
    assert out.class_id.tolist() == [2, 1]
    np.testing.assert_allclose(out.score, [0.95, 0.4], rtol=1e-6)
    np.testing.assert_allclose(out.xyxy[1], normalised(EXPECTED_PX[WIDE], WIDE), atol=1e-6)


# ---------------------------------------------------------------- class names


NAMES = "{0: 'person', 1: 'bicycle', 2: 'car'}"  # as Ultralytics writes them


def test_class_names_come_from_onnx_metadata_when_the_card_has_none(tmp_path: Path) -> None:
    rows = v8_rows((CXCYWH, [0.0, 0.9, 0.0]))
    model = yolo_model(tmp_path / "m.onnx", rows, layout="v8", metadata={"names": NAMES, "stride": "32"})
    card = yolo_card(tmp_path, "yolov8", model, classes=None)
    det = load_detector(card)
    assert det.class_names == ["person", "bicycle", "car"]
    assert det.detect([frame(WIDE)])[0].class_id.tolist() == [1]
    # what preflight sees (rule classes are checked against it), and the raw card
    assert load_model_card(card).classes == ["person", "bicycle", "car"]
    assert load_model_card(card, resolve_classes=False).classes == []


def test_card_classes_win_over_metadata(tmp_path: Path) -> None:
    model = yolo_model(
        tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.9, 0.0])), layout="v8", metadata={"names": NAMES}
    )
    det = load_detector(yolo_card(tmp_path, "yolov8", model, classes=["cat", "dog", "cow"]))
    assert det.class_names == ["cat", "dog", "cow"]


def test_no_classes_in_card_or_metadata(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.9, 0.0])), layout="v8")
    card = yolo_card(tmp_path, "yolov8", model, classes=None)
    with pytest.raises(ModelError) as err:
        load_detector(card)
    one_line_error(err, "lists no classes", "m.onnx", "'names' metadata", str(card))
    with pytest.raises(ModelError, match="lists no classes"):
        load_model_card(card)


def test_unusable_metadata_names(tmp_path: Path) -> None:
    model = yolo_model(
        tmp_path / "m.onnx",
        v8_rows((CXCYWH, [0.0, 0.9, 0.0])),
        layout="v8",
        metadata={"names": "__import__('os').getcwd()"},
    )
    with pytest.raises(ModelError) as err:
        load_detector(yolo_card(tmp_path, "yolov8", model, classes=None))
    one_line_error(err, "m.onnx", "metadata names", "not a Python literal")


def test_parse_class_names() -> None:
    assert parse_class_names(NAMES) == ["person", "bicycle", "car"]
    assert parse_class_names("{1: 'b', 0: 'a'}") == ["a", "b"]
    assert parse_class_names("['a', 'b']") == ["a", "b"]
    for bad, why in [
        ("{0: 'a', 2: 'b'}", "keyed 0..n-1"),
        ("{'0': 'a'}", "keyed 0..n-1"),
        ("{0: 'a', 1: 7}", "strings"),
        ("{}", "keyed 0..n-1|non-empty"),
        ("['a', 'a']", "unique"),
        ("'person'", "dict or list"),
        ("open('/etc/passwd')", "not a Python literal"),
        ("{0: 'a'", "not a Python literal"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_class_names(bad)


# ---------------------------------------------------------------- layout and class-count mismatches


def test_v5_card_on_a_v8_export(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.0, 0.9])), layout="v8")
    card = yolo_card(tmp_path, "yolov5", model)
    with pytest.raises(ModelError) as err:
        load_detector(card)
    one_line_error(
        err,
        "m.onnx",
        str(card),
        "has shape [1, 7, 20]",  # found
        "a yolov5 card expects [1, N, 8]",  # expected
        "use backend: yolov8",
    )


def test_v8_card_on_a_v5_export(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "m.onnx", v5_rows((CXCYWH, 0.9, [0.0, 0.0, 0.9])), layout="v5")
    with pytest.raises(ModelError) as err:
        load_detector(yolo_card(tmp_path, "yolov8", model))
    one_line_error(err, "has shape [1, 20, 8]", "a yolov8 card expects [1, 7, N]", "use backend: yolov5")


@pytest.mark.parametrize("layout", ["v5", "v8"])
def test_class_count_mismatch(tmp_path: Path, layout: str) -> None:
    if layout == "v8":
        model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.0, 0.9])), layout="v8")
    else:
        model = yolo_model(tmp_path / "m.onnx", v5_rows((CXCYWH, 0.9, [0.0, 0.0, 0.9])), layout="v5")
    backend = "yolov8" if layout == "v8" else "yolov5"
    five = [*CLASSES, "truck", "bus"]
    with pytest.raises(ModelError) as err:
        load_detector(yolo_card(tmp_path, backend, model, classes=five))
    one_line_error(err, "m.onnx", "the model has 3 class scores per box but the card lists 5 classes")


def test_class_count_mismatch_with_metadata_names(tmp_path: Path) -> None:
    names = "{0: 'a', 1: 'b', 2: 'c', 3: 'd'}"
    model = yolo_model(
        tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.0, 0.9])), layout="v8", metadata={"names": names}
    )
    with pytest.raises(ModelError) as err:
        load_detector(yolo_card(tmp_path, "yolov8", model, classes=None))
    one_line_error(err, "3 class scores per box but the model's metadata names list 4 classes")


def test_output_of_the_wrong_rank(tmp_path: Path) -> None:
    model = generic_model(tmp_path / "m.onnx", np.zeros((20, 4)), np.zeros(20), np.zeros(20, np.int64))
    with pytest.raises(ModelError) as err:
        load_detector(yolo_card(tmp_path, "yolov8", model))
    one_line_error(err, "output 'boxes' has shape [20, 4], a yolov8 card expects [1, 7, N]")


def test_named_output_missing(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.0, 0.9])), layout="v8")
    with pytest.raises(ModelError) as err:
        load_detector(yolo_card(tmp_path, "yolov8", model, extra="output: predictions\n"))
    one_line_error(err, "no output named 'predictions'", "['output0']")


def test_input_size_disagrees_with_the_card(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.0, 0.9])), layout="v8", size=(96, 64))
    with pytest.raises(ModelError) as err:
        load_detector(yolo_card(tmp_path, "yolov8", model))
    one_line_error(err, "m.onnx", "input shape [1, 3, 64, 96], card says [1, 3, 64, 64]")


def test_input_name_disagrees_with_the_card(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.0, 0.9])), layout="v8")
    card = yolo_card(tmp_path, "yolov8", model)
    card.write_text(
        card.read_text().replace("input: {width: 64, height: 64}", "input: {name: x, width: 64, height: 64}")
    )
    with pytest.raises(ModelError, match="input is named 'images', card says 'x'"):
        load_detector(card)


# ---------------------------------------------------------------- cards


def test_unknown_backend(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.0, 0.9])), layout="v8")
    card = yolo_card(tmp_path, "yolov99", model)
    with pytest.raises(ModelError) as err:
        load_detector(card)
    msg = one_line_error(err, "unknown detector backend 'yolov99'", str(card))
    for name in ("nanodet", "yolov5", "yolov8", "yolov11", "generic"):
        assert name in msg
    assert set(backend_names()) == {"nanodet", "yolov5", "yolov8", "yolov11", "generic"}


def test_missing_backend(tmp_path: Path) -> None:
    card = tmp_path / "card.yaml"
    card.write_text("name: x\nfile: m.onnx\n", encoding="utf-8")
    with pytest.raises(ModelError, match=r"invalid model card .*card\.yaml: backend: missing"):
        load_model_card(card)


def test_cards_forbid_fields_of_other_backends(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.0, 0.9])), layout="v8")
    card = yolo_card(tmp_path, "yolov8", model, extra="head: {strides: [8]}\n")
    with pytest.raises(ModelError) as err:
        load_model_card(card)
    # the location is the card's own (the union's tag is not shown)
    one_line_error(err, f"invalid model card {card}: head: Extra inputs are not permitted")


def test_yolo_card_defaults_are_ultralytics() -> None:
    spec = OnnxInputSpec(width=640, height=640)
    assert (spec.layout, spec.colour_order, spec.resize, spec.pad_value) == ("NCHW", "RGB", "letterbox", 114)
    assert spec.mean == (0, 0, 0) and spec.std == (255, 255, 255)
    card = YoloCard.model_validate(
        {
            "name": "x",
            "backend": "yolov11",
            "file": "x.onnx",
            "input": {"width": 640, "height": 640},
            "licence": {"weights": "AGPL-3.0"},
            "provenance": {"source": "ultralytics"},
        }
    )
    assert card.layout == "v8" and card.classes == [] and card.output is None


def test_shipped_nanodet_card_still_loads_through_the_union() -> None:
    card = load_model_card(NANODET_CARD)
    assert card.backend == "nanodet" and len(card.classes) == 80


def test_factory_builds_nanodet_for_the_shipped_card() -> None:
    det = load_detector(NANODET_CARD, score_threshold=0.4)
    assert isinstance(det, NanoDetDetector)
    assert det.score_threshold == 0.4 and len(det.class_names) == 80


def test_nanodet_loader_refuses_other_backends(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.0, 0.9])), layout="v8")
    with pytest.raises(ModelError, match="is for backend 'yolov8', not nanodet"):
        load_nanodet(yolo_card(tmp_path, "yolov8", model))


def test_worker_loads_detectors_through_the_factory(tmp_path: Path) -> None:
    from sentinel.detect.settings import DetectorConfig

    model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.0, 0.9])), layout="v8")
    card = yolo_card(tmp_path, "yolov8", model)
    det = load_detector(DetectorConfig(model=card, score_threshold=0.5, nms_iou=0.4, threads=1))
    assert isinstance(det, YoloDetector)
    assert (det.score_threshold, det.nms_iou) == (0.5, 0.4)


# ---------------------------------------------------------------- batching


class CountingSession:
    """Wraps an ONNX Runtime session, recording the batch size of each run."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.batches: list[int] = []

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.batches.append(len(next(iter(feeds.values()))))
        return self.inner.run(names, feeds)  # type: ignore[attr-defined]


def test_dynamic_batch_runs_all_frames_at_once_in_order(tmp_path: Path) -> None:
    """Scores follow the mean of each input image: a black frame scores 0, a white one its full score
    scaled by the share of the letterbox grey; each box is undone with its own frame's letterbox."""
    rows = v8_rows((CXCYWH, [0.0, 0.0, 0.9]))
    model = yolo_model(tmp_path / "m.onnx", rows, layout="v8", batch=None, scores_follow_input=True)
    det = load_detector(yolo_card(tmp_path, "yolov8", model), score_threshold=0.35)
    assert isinstance(det, YoloDetector) and det.fixed_batch == 0
    counting = CountingSession(det._session)
    det._session = counting
    frames = [frame(WIDE, 255), frame((128, 128), 0), frame(TALL, 255), frame((128, 128), 255)]
    wide, black, tall, square = det.detect(frames)
    assert counting.batches == [4]
    assert len(black) == 0
    half_grey = 0.5 * 1.0 + 0.5 * 114 / 255  # half the input is the frame (white), half the border
    np.testing.assert_allclose(wide.score, [0.9 * half_grey], rtol=1e-5)
    np.testing.assert_allclose(tall.score, [0.9 * half_grey], rtol=1e-5)
    np.testing.assert_allclose(square.score, [0.9], rtol=1e-5)
    np.testing.assert_allclose(wide.xyxy[0], normalised(EXPECTED_PX[WIDE], WIDE), atol=1e-6)
    np.testing.assert_allclose(tall.xyxy[0], normalised(EXPECTED_PX[TALL], TALL), atol=1e-6)
    np.testing.assert_allclose(square.xyxy[0], np.array(BOX_IN) / 64, atol=1e-6)
    assert det.detect([]) == []


def test_fixed_batch_of_one_runs_frame_by_frame(tmp_path: Path) -> None:
    rows = v8_rows((CXCYWH, [0.0, 0.0, 0.9]))
    model = yolo_model(tmp_path / "m.onnx", rows, layout="v8", batch=1, scores_follow_input=True)
    det = load_detector(yolo_card(tmp_path, "yolov8", model), score_threshold=0.35)
    assert isinstance(det, YoloDetector) and det.fixed_batch == 1
    counting = CountingSession(det._session)
    det._session = counting
    white, black, tall = det.detect([frame((128, 128), 255), frame(WIDE, 0), frame(TALL, 255)])
    assert counting.batches == [1, 1, 1]
    assert (len(white), len(black), len(tall)) == (1, 0, 1)
    np.testing.assert_allclose(tall.xyxy[0], normalised(EXPECTED_PX[TALL], TALL), atol=1e-6)


def test_rejects_non_bgr_uint8_frames(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.0, 0.9])), layout="v8")
    det = load_detector(yolo_card(tmp_path, "yolov8", model))
    with pytest.raises(ValueError, match="uint8"):
        det.detect([np.zeros((10, 10), np.uint8)])


# ---------------------------------------------------------------- letterbox


def ultralytics_letterbox(img: np.ndarray, new: tuple[int, int]) -> np.ndarray:
    """Reference: Ultralytics' LetterBox(auto=False, center=True) + BGR->RGB, HWC->CHW, /255."""
    h, w = img.shape[:2]
    new_w, new_h = new
    r = min(new_h / h, new_w / w)
    unpad_w, unpad_h = int(round(w * r)), int(round(h * r))
    dw, dh = (new_w - unpad_w) / 2, (new_h - unpad_h) / 2
    if (w, h) != (unpad_w, unpad_h):
        img = cv2.resize(img, (unpad_w, unpad_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return img[..., ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0


@pytest.mark.parametrize("size", [(200, 100), (100, 200), (301, 100), (57, 101), (64, 64), (640, 480)])
def test_letterbox_matches_ultralytics(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(7)
    w, h = size
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    pre = Letterbox(OnnxInputSpec(width=64, height=64))
    out = np.full((3, 64, 64), np.nan, np.float32)
    p = pre.preprocess_into(img, out)
    np.testing.assert_allclose(out, ultralytics_letterbox(img, (64, 64)), atol=1e-6)
    assert (p.w, p.h) == size


# ---------------------------------------------------------------- generic boxes / scores / classes


GENERIC_BOXES = np.array(
    [
        BOX_IN,  # car 0.9
        (17, 28, 25, 32),  # the same car 1 px right, 0.85: suppressed
        (40, 40, 56, 56),  # person 0.2: below the threshold
        (40, 40, 56, 56),  # bicycle 0.5
        (0, 0, 0, 0),  # padding rows, as NMS-inside exports emit
    ],
    np.float32,
)
GENERIC_SCORES = np.array([0.9, 0.85, 0.2, 0.5, 0.0], np.float32)
GENERIC_CLASSES = np.array([2, 2, 0, 1, 0], np.int64)


@pytest.mark.parametrize("units", ["pixels", "normalised"])
def test_generic_boxes_land_in_the_original_frame(tmp_path: Path, units: str) -> None:
    boxes = GENERIC_BOXES if units == "pixels" else GENERIC_BOXES / 64
    model = generic_model(tmp_path / "m.onnx", boxes, GENERIC_SCORES, GENERIC_CLASSES)
    det = load_detector(generic_card(tmp_path, model, box_units=units), score_threshold=0.35)
    assert isinstance(det, GenericOnnxDetector)
    (out,) = det.detect([frame(WIDE)])
    assert out.class_id.tolist() == [2, 1]
    np.testing.assert_allclose(out.score, [0.9, 0.5], rtol=1e-6)
    np.testing.assert_allclose(out.xyxy[0], normalised(EXPECTED_PX[WIDE], WIDE), atol=1e-6)
    # 40..56 in the input: x 125..175 of 200, y (40-16)/0.32 = 75 .. 100 of 100 (clipped at the edge)
    np.testing.assert_allclose(out.xyxy[1], [125 / 200, 0.75, 175 / 200, 1.0], atol=1e-6)


def test_generic_batched_outputs_with_dynamic_batch_and_float_classes(tmp_path: Path) -> None:
    model = generic_model(
        tmp_path / "m.onnx",
        GENERIC_BOXES,
        GENERIC_SCORES,
        GENERIC_CLASSES.astype(np.float32),
        batched=True,
        batch=None,
    )
    det = load_detector(generic_card(tmp_path, model), score_threshold=0.35)
    counting = CountingSession(det._session)  # type: ignore[attr-defined]
    det._session = counting  # type: ignore[attr-defined]
    wide, tall = det.detect([frame(WIDE), frame(TALL)])
    assert counting.batches == [2]
    assert wide.class_id.tolist() == tall.class_id.tolist() == [2, 1]
    np.testing.assert_allclose(wide.xyxy[0], normalised(EXPECTED_PX[WIDE], WIDE), atol=1e-6)
    np.testing.assert_allclose(tall.xyxy[0], normalised(EXPECTED_PX[TALL], TALL), atol=1e-6)


def test_generic_unbatched_outputs_run_frame_by_frame(tmp_path: Path) -> None:
    model = generic_model(tmp_path / "m.onnx", GENERIC_BOXES, GENERIC_SCORES, GENERIC_CLASSES, batch=None)
    det = load_detector(generic_card(tmp_path, model), score_threshold=0.35)
    counting = CountingSession(det._session)  # type: ignore[attr-defined]
    det._session = counting  # type: ignore[attr-defined]
    results = det.detect([frame(WIDE), frame(TALL), frame(WIDE)])
    assert counting.batches == [1, 1, 1]
    np.testing.assert_allclose(results[1].xyxy[0], normalised(EXPECTED_PX[TALL], TALL), atol=1e-6)


def test_generic_drops_class_ids_outside_the_card(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    classes = np.array([2, 2, 0, 7, 0], np.int64)  # 7: no such class
    model = generic_model(tmp_path / "m.onnx", GENERIC_BOXES, GENERIC_SCORES, classes)
    det = load_detector(generic_card(tmp_path, model), score_threshold=0.35)
    with caplog.at_level("WARNING"):
        (out,) = det.detect([frame(WIDE)])
    assert out.class_id.tolist() == [2]
    assert "class ids outside 0..2" in caplog.text


def test_generic_output_names_come_from_the_card(tmp_path: Path) -> None:
    names = ("det_boxes", "det_scores", "det_labels")
    model = generic_model(tmp_path / "m.onnx", GENERIC_BOXES, GENERIC_SCORES, GENERIC_CLASSES, names=names)
    det = load_detector(generic_card(tmp_path, model, outputs=names), score_threshold=0.35)
    assert det.detect([frame(WIDE)])[0].class_id.tolist() == [2, 1]
    with pytest.raises(ModelError) as err:
        load_detector(generic_card(tmp_path, model))
    one_line_error(err, "m.onnx", "no output named 'boxes'", "det_labels")


def test_generic_scores_and_classes_must_match_the_boxes(tmp_path: Path) -> None:
    model = generic_model(tmp_path / "m.onnx", np.zeros((5, 4)), np.zeros(5), np.zeros(4, np.int64))
    with pytest.raises(ModelError) as err:
        load_detector(generic_card(tmp_path, model))
    one_line_error(
        err, "m.onnx", "output 'classes' has shape [4], expected [5] (one per box of 'boxes' [5, 4])"
    )


def test_generic_boxes_of_the_wrong_shape(tmp_path: Path) -> None:
    model = generic_model(tmp_path / "m.onnx", np.zeros((5, 4)), np.zeros(5), np.zeros(5, np.int64))
    # scores used as boxes: [5] is not [N, 4]
    with pytest.raises(ModelError) as err:
        load_detector(generic_card(tmp_path, model, outputs=("scores", "boxes", "classes")))
    one_line_error(err, "output 'scores' has shape [5], expected [N, 4] or [1, N, 4]")


def test_an_execution_provider_this_build_lacks_is_a_model_error(tmp_path: Path) -> None:
    from sentinel.detect.detectors import open_detector

    model = yolo_model(tmp_path / "m.onnx", v8_rows((CXCYWH, [0.0, 0.0, 0.9])), layout="v8")
    with pytest.raises(ModelError) as err:
        open_detector(yolo_card(tmp_path, "yolov8", model), providers=("NoSuchExecutionProvider",))
    one_line_error(err, "execution provider NoSuchExecutionProvider is not in this onnxruntime build")
