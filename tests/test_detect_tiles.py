"""Zone tiles (`sentinel.detect.tiles`, camera `detect_tiles`): canvas layout, crops from the YUV planes,
boxes mapped back and merged, the config check, and the real model finding a bicycle the full view misses."""

from __future__ import annotations

import textwrap
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from sentinel.cli.main import main
from sentinel.config.models import CameraConfig
from sentinel.detect.detections import Detections
from sentinel.detect.detectors import load_detector
from sentinel.detect.settings import DetectorConfig
from sentinel.detect.tiles import GAP, TileLayout, compose, input_size_of, merge, plan_tiles
from sentinel.ingest.reader import Frame
from sentinel.pipeline import CameraPipeline
from sentinel.pipeline.batch import analyse_batch
from tests.support.footage import vtest_path

SMALL_A = [(0.15, 0.33), (0.33, 0.33), (0.33, 0.48), (0.15, 0.46)]  # the street camera's shop front
SMALL_B = [(0.33, 0.33), (0.50, 0.33), (0.50, 0.47), (0.33, 0.42)]  # its no-parking entrance
LARGE = [(0.40, 0.43), (0.84, 0.70), (0.84, 0.78), (0.40, 0.51)]  # its pavement


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int = 0) -> bool:
    return min(a[2], b[2]) + gap > max(a[0], b[0]) and min(a[3], b[3]) + gap > max(a[1], b[1])


def test_small_zones_go_in_the_band_larger_and_apart() -> None:
    far_b = [(0.6, 0.33), (0.77, 0.33), (0.77, 0.47), (0.6, 0.42)]  # not touching a
    layout = plan_tiles((1280, 720), (416, 416), [("a", SMALL_A), ("b", far_b)])
    assert sorted(t.zone for t in layout.tiles) == ["a", "b"]
    assert layout.view == (0, 0, 416, 234)
    assert layout.canvases == 1  # no extra inference
    rects = [layout.view, *(t.dst for t in layout.tiles)]
    for t in layout.tiles:
        assert t.canvas == 0 and t.dst[1] >= 234 + GAP and t.dst[2] <= 416 and t.dst[3] <= 416
        assert layout.gain(t) >= 1.5
        w, h = t.size  # aspect kept: the crop is scaled alike both ways
        sw, sh = t.src[2] - t.src[0], t.src[3] - t.src[1]
        assert abs(w / sw - h / sh) < 0.03
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not _overlap(a, b, GAP - 1), (a, b)


def test_a_zone_too_large_for_the_band_gets_a_second_input() -> None:
    layout = plan_tiles((768, 576), (416, 416), [("a", SMALL_A), ("b", SMALL_B), ("big", LARGE)])
    where = {t.zone: t.canvas for t in layout.tiles}
    assert where == {"a+b": 0, "big": 1}  # the neighbours as one tile: a bike across their edge is seen whole
    assert layout.canvases == 2 and "2 inferences" in layout.describe()
    # a YOLO-style 640 input: the same way, to its size (1280x720: the full view at x0.5, tiles at x1)
    yolo = plan_tiles((1280, 720), (640, 640), [("a", SMALL_A), ("b", SMALL_B)])
    assert yolo.view == (0, 0, 640, 360) and yolo.canvases == 1
    assert all(t.dst[1] >= 360 + GAP and t.dst[3] <= 640 and yolo.gain(t) >= 1.5 for t in yolo.tiles)
    # ... but a 768x576 frame is seen at x0.83 there: no tile could be 1.5 times sharper, none is made
    near = plan_tiles((768, 576), (640, 640), [("a", SMALL_A)])
    assert near.tiles == () and near.skipped == ("a",) and near.canvases == 1


def _frame_with_box(box: tuple[int, int, int, int], yuv: bool) -> Frame:
    img = np.full((720, 1280, 3), 60, np.uint8)
    cv2.rectangle(img, box[:2], (box[2] - 1, box[3] - 1), (255, 255, 255), -1)
    if not yuv:
        return Frame("t", img, 0.0, True, 0)
    video = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
    return Frame("t", None, 0.0, True, 0, video=video)


def _found(canvas: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """The bright rectangle's box in a canvas region, in canvas pixels (x1, y1 exclusive)."""
    x0, y0, x1, y1 = region
    ys, xs = np.nonzero(canvas[y0:y1, x0:x1, 1] > 160)
    return np.array([xs.min() + x0, ys.min() + y0, xs.max() + 1 + x0, ys.max() + 1 + y0], np.float32)


@pytest.mark.parametrize("yuv", [False, True], ids=["bgr", "yuv420p"])
def test_a_box_drawn_in_a_tile_maps_back_to_the_frame(yuv: bool) -> None:
    truth = (300, 290, 372, 330)  # frame px, inside zone "a" (0.15-0.33 x 0.33-0.48 of 1280x720)
    frame = _frame_with_box(truth, yuv)
    layout = plan_tiles((1280, 720), (416, 416), [("a", SMALL_A), ("b", SMALL_B)])
    tile = next(t for t in layout.tiles if "a" in t.zone.split("+"))
    crops = [frame.crop_image(t.src, t.size) for t in layout.tiles]
    canvas = compose(layout, frame.analysis_image(640), crops)[0]
    assert canvas.shape == (416, 416, 3)
    found = _found(canvas, tile.dst) / np.array([416, 416, 416, 416], np.float32)
    dets = Detections(found[None], np.array([0.9], np.float32), np.array([1], np.int32))
    out = merge(layout, [dets])
    assert len(out) == 1
    px_per_canvas_px = (tile.src[2] - tile.src[0]) / tile.size[0]
    got = out.xyxy[0] * np.array([1280, 720, 1280, 720])
    assert np.abs(got - np.array(truth)).max() <= 1.5 * px_per_canvas_px, (got, truth)


def test_the_yuv_crop_is_the_converted_picture_cropped() -> None:
    img = cv2.resize(cv2.imread(str(vtest_path().parent / "aloeL.jpg")), (1280, 720))
    video = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
    rect, size = (402, 180, 700, 398), (180, 132)
    from_planes = Frame("t", None, 0.0, True, 0, video=video).crop_image(rect, size)
    converted = Frame("t", video.to_ndarray(format="bgr24"), 0.0, True, 0).crop_image(rect, size)
    assert from_planes.shape == converted.shape == (132, 180, 3)
    assert np.abs(from_planes.astype(int) - converted.astype(int)).mean() < 3.0


def _layout() -> TileLayout:
    return plan_tiles((1280, 720), (416, 416), [("a", SMALL_A)])


def _canvas_dets(boxes: list[tuple[float, float, float, float]], classes: list[int]) -> Detections:
    xyxy = np.array(boxes, np.float32).reshape(-1, 4) / 416
    return Detections(xyxy, np.full(len(boxes), 0.5, np.float32), np.array(classes, np.int32))


def test_boxes_cut_by_the_tile_edge_or_centred_outside_are_dropped() -> None:
    layout = _layout()
    (tile,) = layout.tiles
    x0, y0, x1, y1 = tile.dst
    assert all(tile.cut)  # a zone inside the frame: every edge is a cut
    inside = (x0 + 10, y0 + 10, x0 + 40, y0 + 40)
    across_top = (x0 + 50, y0, x0 + 80, y0 + 30)  # touches the tile's top cut edge
    centred_off = (x1 - 10, y0 + 10, x1 + 30, y0 + 40)  # centre in the gap beside the tile
    out = merge(layout, [_canvas_dets([inside, across_top, centred_off], [1, 1, 1])])
    assert len(out) == 1
    sx0, sy0, sx1, sy1 = tile.src
    k = (sx1 - sx0) / (x1 - x0)
    expected = np.array([sx0 + 10 * k, sy0 + 10 * k, sx0 + 40 * k, sy0 + 40 * k]) / [1280, 720, 1280, 720]
    assert np.allclose(out.xyxy[0], expected, atol=1e-4)


def test_a_box_at_the_frame_border_is_kept() -> None:
    layout = plan_tiles(
        (1280, 720), (416, 416), [("corner", [(0.0, 0.8), (0.2, 0.8), (0.2, 1.0), (0.0, 1.0)])]
    )
    (tile,) = layout.tiles
    assert tile.cut == (False, True, True, False)
    x0, y0, x1, y1 = tile.dst
    out = merge(layout, [_canvas_dets([(x0, y1 - 30, x0 + 30, y1)], [1])])
    assert len(out) == 1 and out.xyxy[0, 0] == pytest.approx(0.0) and out.xyxy[0, 3] == pytest.approx(1.0)


def test_a_tile_box_supersedes_the_full_view_box_of_its_class() -> None:
    layout = _layout()
    (tile,) = layout.tiles
    x0, y0 = tile.dst[:2]
    sx0, sy0, sx1, _ = tile.src
    k = (sx1 - sx0) / tile.size[0]
    tile_box = (x0 + 10, y0 + 10, x0 + 40, y0 + 40)
    # the same object in the full view (canvas scale 416 / 1280), and one of another class on it
    fx = [
        (sx0 + 10 * k) * 416 / 1280,
        (sy0 + 10 * k) * 416 / 1280,
        (sx0 + 40 * k) * 416 / 1280,
        (sy0 + 40 * k) * 416 / 1280,
    ]
    far = (10.0, 10.0, 30.0, 30.0)  # elsewhere in the view: kept
    out = merge(layout, [_canvas_dets([tuple(fx), tuple(fx), far, tile_box], [1, 0, 1, 1])])  # type: ignore[list-item]
    assert sorted(out.class_id.tolist()) == [0, 1, 1]
    bikes = out.xyxy[out.class_id == 1]
    assert any(np.allclose(b, np.array(far) / [416, 234, 416, 234], atol=1e-4) for b in bikes)


def test_unknown_tile_zone_is_a_config_error_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sentinel.yaml"
    path.write_text(textwrap.dedent("""\
        cameras:
          - id: cam1
            source: rtsp://127.0.0.1:8554/cam1
            zones:
              - name: plaza
                polygon: [[0, 0.2], [1, 0.2], [1, 1], [0, 1]]
            detect_tiles: [plaza, kerb]
        """), encoding="utf-8")  # fmt: skip
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:7: cameras[0].detect_tiles: " in err and "'kerb' is not defined" in err, err
    path.write_text(path.read_text().replace(", kerb", ""), encoding="utf-8")
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "detector tiles" in out and "cam1: plaza" in out


# ---------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def street_frame() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """vtest (768x576) with a bicycle at real size (47 px tall) parked in the street camera's no-parking
    entrance (bench/scenarios_street.py, nonmotor_bike_moto's first bike), and its ground-truth box."""
    from bench.scenarios import height_at
    from bench.scenarios_street import _cutout

    cap = cv2.VideoCapture(str(vtest_path()))
    for _ in range(10):
        ok, img = cap.read()
        assert ok
    x, y = 265, 238
    c = _cutout("bicycle", round(0.65 * height_at(y)))
    ch, cw = c.alpha.shape
    x0, y0 = round(x - cw / 2), y - ch
    a = c.alpha[..., None]
    roi = img[y0 : y0 + ch, x0 : x0 + cw].astype(np.float32)
    img[y0 : y0 + ch, x0 : x0 + cw] = (roi * (1 - a) + c.image * a).astype(np.uint8)
    return img, (x0 / 768, y0 / 576, (x0 + cw) / 768, (y0 + ch) / 576)


def _iou(a: np.ndarray, b: tuple[float, float, float, float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def _bike_iou(dets: Detections, truth: tuple[float, float, float, float]) -> float:
    return max((_iou(b, truth) for b, c in zip(dets.xyxy, dets.class_id, strict=True) if c == 1), default=0.0)


def test_the_real_model_finds_a_far_bicycle_in_its_tile_only(
    street_frame: tuple[np.ndarray, tuple[float, float, float, float]],
) -> None:
    img, truth = street_frame
    video = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
    detector = load_detector(DetectorConfig())  # NanoDet-g 416, threshold 0.35
    assert input_size_of(detector) == (416, 416)
    spec = {"id": "street", "source": "x.mp4", "zones": [{"name": "entrance", "polygon": SMALL_B}]}
    outcomes = {}
    for tiles in ([], ["entrance"]):
        camera = CameraConfig.model_validate({**spec, "detect_tiles": tiles})
        pipe = CameraPipeline.for_camera(camera, DetectorConfig(), detector.class_names)
        frame = Frame("street", None, 0.0, True, 0, video=video)
        if tiles:  # the entrance fits the letterbox band: still one picture, one inference
            assert len(pipe.detector_inputs(frame, (416, 416)).pictures) == 1
        result = analyse_batch([(pipe, frame)], detector)
        outcomes[bool(tiles)] = result.outcomes[0].tracked
    assert _bike_iou(outcomes[False], truth) < 0.5  # the full view (416x312) misses it at 0.35
    assert _bike_iou(outcomes[True], truth) >= 0.5  # its tile, from the full-resolution frame, finds it
