"""Detector hygiene (a camera's `detection_filter`): exact ground truth on hand-made boxes, and on the real
detector's boxes over vtest (the defaults must not cost real pedestrians; a mask and a size limit remove the
sign and the cone the detector reads as people)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from sentinel.config.models import CameraConfig
from sentinel.detect.detections import Detections
from sentinel.detect.hygiene import CameraHygiene, DetectorHygiene, intersections
from sentinel.detect.settings import DetectionFilter
from tests.support.scenes import vtest_detections

NAMES = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]
PERSON, BICYCLE, CAR, BUS, TRUCK = 0, 1, 2, 4, 5
VTEST_ASPECT = 768 / 576  # width / height of the footage


def boxes(*rows: tuple[float, float, float, float, float, int]) -> Detections:
    """(x1, y1, x2, y2, score, class_id) rows."""
    arr = np.array(rows, dtype=np.float32).reshape(-1, 6)
    return Detections(arr[:, :4].copy(), arr[:, 4].copy(), arr[:, 5].astype(np.int32))


def clean(dets: Detections, aspect: float = 1.0, **cfg: object) -> Detections:
    return DetectorHygiene(DetectionFilter.model_validate(cfg), NAMES).clean(dets, aspect)


def test_three_boxes_on_one_lamp_post_count_once() -> None:
    # the whole post, its upper part and a middle part (IoU with the whole < 0.6: per-class NMS keeps all)
    post = boxes(
        (0.50, 0.20, 0.54, 0.60, 0.45, PERSON),
        (0.50, 0.20, 0.54, 0.38, 0.41, PERSON),
        (0.505, 0.30, 0.535, 0.50, 0.39, PERSON),
    )
    assert len(clean(post)) == 1
    assert clean(post).score.tolist() == pytest.approx([0.45])
    assert len(clean(post, nested_within=None)) == 3  # off: all three stay


def test_one_object_with_two_labels_counts_once() -> None:
    van = boxes((0.85, 0.10, 0.95, 0.16, 0.55, CAR), (0.851, 0.101, 0.949, 0.158, 0.45, TRUCK))
    kept = clean(van)
    assert kept.class_id.tolist() == [CAR]
    assert len(clean(van, duplicate_iou=None)) == 2


def test_neighbours_and_objects_in_front_of_others_are_kept() -> None:
    side_by_side = boxes((0.30, 0.4, 0.34, 0.6, 0.8, PERSON), (0.33, 0.4, 0.37, 0.6, 0.7, PERSON))
    assert len(clean(side_by_side)) == 2
    # a person in front of a bus (inside its box), a rider on a bicycle: other classes, both kept
    bus_stop = boxes((0.10, 0.20, 0.60, 0.70, 0.9, BUS), (0.30, 0.35, 0.34, 0.65, 0.6, PERSON))
    assert len(clean(bus_stop)) == 2
    rider = boxes((0.50, 0.30, 0.56, 0.60, 0.8, PERSON), (0.50, 0.45, 0.57, 0.62, 0.7, BICYCLE))
    assert len(clean(rider)) == 2
    assert len(clean(bus_stop, nested_across_classes=True)) == 1  # opted in: the person is a fragment


def test_a_group_box_does_not_swallow_the_better_scoring_people_in_it() -> None:
    group = boxes(
        (0.20, 0.30, 0.30, 0.60, 0.40, PERSON),  # two walkers as one low-scoring box
        (0.20, 0.30, 0.245, 0.60, 0.80, PERSON),
        (0.255, 0.31, 0.30, 0.60, 0.75, PERSON),
    )
    assert len(clean(group)) == 3


def test_limits_per_class_over_the_common_ones() -> None:
    dets = boxes(
        (0.10, 0.10, 0.12, 0.13, 0.50, PERSON),  # small: area 0.0006, a cone
        (0.30, 0.30, 0.34, 0.42, 0.38, PERSON),  # real size, low score
        (0.50, 0.30, 0.54, 0.42, 0.70, PERSON),  # kept
        (0.60, 0.50, 0.61, 0.51, 0.90, CAR),  # tiny car: no limit for cars
    )
    cfg = {"all": {"min_score": 0.35}, "classes": {"person": {"min_area": 0.001, "min_score": 0.4}}}
    kept = clean(dets, **cfg)
    assert kept.score.tolist() == pytest.approx([0.70, 0.90])


def test_aspect_is_measured_in_pixels() -> None:
    # 0.03 x 0.06: twice as high as wide in normalised units; in a 4:3 picture 1.5 times, in pixels
    squat = boxes((0.1, 0.1, 0.13, 0.16, 0.8, PERSON))
    limits = {"classes": {"person": {"min_aspect": 1.7}}}
    assert len(clean(squat, 1.0, **limits)) == 1
    assert len(clean(squat, 4 / 3, **limits)) == 0


def test_object_masks_ignore_their_classes_only() -> None:
    sign = [[0.40, 0.10], [0.50, 0.10], [0.50, 0.40], [0.40, 0.40]]
    dets = boxes(
        (0.42, 0.15, 0.47, 0.35, 0.6, PERSON),  # the sign as a person: inside
        (0.36, 0.20, 0.43, 0.45, 0.7, PERSON),  # a person walking past: a third inside
        (0.41, 0.12, 0.49, 0.30, 0.5, CAR),  # a car seen there is not masked for people only
    )
    kept = clean(dets, masks=[{"polygon": sign, "classes": ["person"]}])
    assert kept.score.tolist() == pytest.approx([0.7, 0.5])
    assert len(clean(dets, masks=[{"polygon": sign}])) == 1  # all classes


def test_bad_filter_settings_name_the_key() -> None:
    with pytest.raises(ValidationError, match="min_area .* must be below max_area"):
        DetectionFilter.model_validate({"classes": {"person": {"min_area": 0.2, "max_area": 0.1}}})
    with pytest.raises(ValidationError, match=r"masks\.0\.polygon"):
        DetectionFilter.model_validate({"masks": [{"polygon": [[0, 0], [1, 1]]}]})
    cfg = DetectionFilter.model_validate({"classes": {"persn": {"min_score": 0.5}}})
    with pytest.raises(ValueError, match="camera cam: detection_filter names class 'persn'"):
        CameraHygiene("cam", cfg, NAMES)


def test_camera_config_carries_the_filter() -> None:
    cam = CameraConfig.model_validate(
        {"id": "c", "source": "x.mp4", "detection_filter": {"classes": {"person": {"min_score": 0.5}}}}
    )
    assert cam.detection_filter.classes["person"].min_score == 0.5
    assert cam.detection_filter.duplicate_iou == 0.8  # the defaults stay on


# ---------------------------------------------------------------- the real detector over vtest


def persons(d: Detections, names: list[str]) -> Detections:
    return d[d.class_id == names.index("person")]


def test_defaults_cost_no_real_pedestrian_on_vtest() -> None:
    dets, names = vtest_detections(2.0)
    hygiene = DetectorHygiene(DetectionFilter(), names)
    before = after = checked = 0
    for d in dets:
        kept = hygiene.clean(d, VTEST_ASPECT)
        p0, p1 = persons(d, names), persons(kept, names)
        before, after = before + len(p0), after + len(p1)
        # every person box that went is (>= 80 %) inside a person box that stayed: its person still counts
        same = (p0.xyxy[:, None, :] == p1.xyxy[None, :, :]).all(axis=2)
        gone = ~same.any(axis=1) if len(p1) else np.ones(len(p0), dtype=bool)
        checked += int(gone.sum())
        for box in p0.xyxy[gone]:
            both = np.vstack([box[None], p1.xyxy])
            inside = intersections(both)[0, 1:] / ((box[2] - box[0]) * (box[3] - box[1]))
            assert inside.max() >= 0.8
    assert before == 1146 and before - after == checked == 11  # measured: 11 fragments of 1146 person boxes


def test_the_parked_van_labelled_car_and_truck_counts_once_on_vtest() -> None:
    dets, names = vtest_detections(2.0)
    hygiene = DetectorHygiene(DetectionFilter(), names)
    car, truck = names.index("car"), names.index("truck")
    van = np.array([0.85, 0.10, 0.95, 0.16])  # around the white van, top right

    def on_van(d: Detections) -> int:
        near = np.abs(d.xyxy - van).max(axis=1) < 0.03
        return int((near & np.isin(d.class_id, [car, truck])).sum())

    twice = [d for d in dets if on_van(d) >= 2]
    assert len(twice) > 100  # the raw detector labels it twice in most frames
    assert all(on_van(hygiene.clean(d, VTEST_ASPECT)) == 1 for d in twice)


def test_a_mask_and_a_size_limit_remove_the_sign_and_the_cone_on_vtest() -> None:
    dets, names = vtest_detections(2.0)
    sign = [[0.03, 0.17], [0.08, 0.17], [0.08, 0.28], [0.03, 0.28]]  # the blue sign on the left lawn
    cfg = DetectionFilter.model_validate(
        {"classes": {"person": {"min_area": 0.0009}}, "masks": [{"polygon": sign, "classes": ["person"]}]}
    )
    hygiene, defaults = DetectorHygiene(cfg, names), DetectorHygiene(DetectionFilter(), names)

    def at_sign(p: Detections) -> np.ndarray:
        cx, cy = (p.xyxy[:, 0] + p.xyxy[:, 2]) / 2, (p.xyxy[:, 1] + p.xyxy[:, 3]) / 2
        return (cx > 0.03) & (cx < 0.08) & (cy > 0.17) & (cy < 0.28)

    def at_cone(p: Detections) -> np.ndarray:  # the cone by the path, left of the lamp post
        return (np.abs(p.xyxy[:, 0] - 0.212) < 0.01) & (np.abs(p.xyxy[:, 1] - 0.326) < 0.01)

    sign_before = sign_after = cone_small_before = cone_small_after = lost_elsewhere = 0
    for d in dets:
        p0 = persons(defaults.clean(d, VTEST_ASPECT), names)
        p1 = persons(hygiene.clean(d, VTEST_ASPECT), names)
        small = lambda p: (p.xyxy[:, 2] - p.xyxy[:, 0]) * (p.xyxy[:, 3] - p.xyxy[:, 1]) < 0.0009  # noqa: E731
        sign_before += int(at_sign(p0).sum())
        sign_after += int(at_sign(p1).sum())
        cone_small_before += int((at_cone(p0) & small(p0)).sum())
        cone_small_after += int((at_cone(p1) & small(p1)).sum())
        lost_elsewhere += int((~at_sign(p0) & ~at_cone(p0)).sum() - (~at_sign(p1) & ~at_cone(p1)).sum())
    assert sign_before >= 30 and sign_after == 0
    assert cone_small_before >= 50 and cone_small_after == 0
    assert lost_elsewhere == 0  # the pedestrians' boxes are all kept


def test_the_pipeline_cleans_the_detectors_output_before_the_tracker() -> None:
    from sentinel.detect.settings import DetectorConfig
    from sentinel.ingest.reader import Frame
    from sentinel.pipeline import CameraPipeline
    from tests.support.scenes import vtest_frames

    dets, names = vtest_detections(2.0)
    frames = vtest_frames(2.0)
    i = next(
        k for k, d in enumerate(dets) if len(persons(d, names)) and persons(d, names).xyxy[:, 0].min() < 0.08
    )
    sign = [[0.0, 0.0], [0.12, 0.0], [0.12, 1.0], [0.0, 1.0]]  # the left edge, for people
    camera = CameraConfig.model_validate(
        {
            "id": "c",
            "source": "x.mp4",
            "detection_filter": {"masks": [{"polygon": sign, "classes": ["person"]}]},
            "rules": [{"kind": "count_in_zone", "event_type": "crowd_gathering", "min_count": 1}],
        }
    )
    pipe = CameraPipeline.for_camera(camera, DetectorConfig(), names)
    tracked = persons(pipe.analyse(Frame("c", frames[i], 1000.0, True, i), dets[i]).tracked, names)
    raw = persons(dets[i], names)

    def masked(p: Detections) -> np.ndarray:  # at least half of the box left of x = 0.12
        return (np.minimum(p.xyxy[:, 2], 0.12) - p.xyxy[:, 0]) / (p.xyxy[:, 2] - p.xyxy[:, 0]) >= 0.5

    assert masked(raw).sum() >= 1 and masked(tracked).sum() == 0
    defaults = persons(DetectorHygiene(DetectionFilter(), names).clean(dets[i], VTEST_ASPECT), names)
    assert len(tracked) == int((~masked(defaults)).sum())  # the rest reach the tracker


def test_sentinel_check_names_file_line_and_key_of_an_unknown_filter_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sentinel.cli.main import main

    path = tmp_path / "sentinel.yaml"
    path.write_text(
        "cameras:\n"
        "  - id: cam1\n"
        "    source: x.mp4\n"
        "    detection_filter:\n"
        "      classes:\n"
        "        person: {min_score: 0.4}\n"
        "      masks:\n"
        "        - polygon: [[0, 0], [0.2, 0], [0.2, 0.2]]\n"
        "          classes: [person, lamppost]\n",
        encoding="utf-8",
    )
    code = main(["check", "--config", str(path)])
    out = capsys.readouterr()
    text = out.err + out.out
    assert code == 2
    line = f"{path}:9: cameras[0].detection_filter.masks[0].classes[1]: no detector of this camera has class"
    assert text.strip().splitlines() == [f"{line} 'lamppost'"]  # `person` is the model's: no issue
