"""dwell on synthetic scenes with exact ground truth, through a real MotionTracker: parking (with detector
misses, track loss, label flicker, occlusion), a stop at a red light, walkers, vending, cooldown, zones."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from sentinel.cli.main import main
from sentinel.detect.detections import Detections
from sentinel.detect.rules import RuleEnv, RuleEvent, build_rules
from sentinel.detect.rules.base import FrameContext
from sentinel.detect.rules.dwell import Dwell, DwellParams
from sentinel.detect.settings import Zone
from sentinel.detect.tracker import MotionTracker
from sentinel.detect.zones import ZoneArea

CLASSES = ["person", "bicycle", "car", "motorcycle", "bus", "truck", "umbrella", "dining table"]
ROAD = Zone(name="road", polygon=[(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)])  # the lower half
MOTOR = ["car", "bus", "truck", "motorcycle"]

Obj = tuple[str, float, float, float, float]  # label, x1, y1, x2, y2


def car(x: float, label: str = "car") -> Obj:
    """A car 0.2 wide and 0.1 high, standing on y=0.8 with its left edge at x."""
    return (label, x, 0.7, x + 0.2, 0.8)


def person(x: float, bottom: float = 0.8) -> Obj:
    return ("person", x, bottom - 0.2, x + 0.05, bottom)


def umbrella(x: float) -> Obj:
    return ("umbrella", x, 0.55, x + 0.15, 0.62)  # a parasol's canopy, above the vendor's head


def dets(objs: Iterable[Obj], score: float = 0.8) -> Detections:
    rows = list(objs)
    return Detections(
        np.array([r[1:] for r in rows], dtype=np.float32).reshape(-1, 4),
        np.full(len(rows), score, np.float32),
        np.array([CLASSES.index(r[0]) for r in rows], dtype=np.int32),
    )


def rule(**kw: object) -> Dwell:
    params: dict[str, object] = {
        "kind": "dwell",
        "event_type": "motor_parking",
        "classes": MOTOR,
        "min_duration": 60,
        "cooldown": 600,
        "zone": "road",
    }
    params.update(kw)
    cfg = DwellParams.model_validate(params)
    return Dwell(cfg, ZoneArea(ROAD if cfg.zone == "road" else None), RuleEnv("cam", CLASSES))


Scene = Callable[[float], list[Obj]]


def run(r: Dwell, scene: Scene, seconds: float, step: float = 1.0) -> tuple[list[RuleEvent], list[bool]]:
    """Feed one frame per `step` seconds from t=0 through a fresh MotionTracker (the worker's defaults)."""
    tracker = MotionTracker()
    events, active = [], []
    for i in range(int(seconds / step) + 1):
        ts = i * step
        tracked = tracker.update(dets(scene(ts)), ts)
        ev = r.evaluate(FrameContext("cam", ts, tracked, tracker=tracker))
        if ev is not None:
            events.append(ev)
        active.append(r.active)
    return events, active


def fired_at(events: list[RuleEvent]) -> list[float]:
    return [e.detected_at for e in events]


# ---------------------------------------------------------------- parking


def test_parked_car_fires_once_after_min_duration() -> None:
    events, active = run(rule(), lambda t: [car(0.4)], 300)
    assert fired_at(events) == [60.0]
    ev = events[0]
    assert ev.started_at == 0.0 and ev.count == 1 and ev.rule_kind == "dwell"
    assert ev.event_type == "motor_parking" and ev.zone == "road" and ev.zone_polygon is not None
    assert [(o.label, o.track_id) for o in ev.objects] == [("car", 1)]
    assert active.index(True) == 60  # the condition holds from the moment it has held min_duration


def test_parked_car_with_detector_misses_and_track_loss_is_one_alert() -> None:
    def scene(t: float) -> list[Obj]:
        if t % 4 == 3 or 100 <= t < 112:  # a miss every 4th frame; a 12 s loss: longer than max_age
            return []
        jitter = 0.004 * np.sin(t)  # a detector box never sits perfectly still
        return [car(0.4 + jitter)]

    tracker_ids: set[int] = set()
    r = rule(min_duration=120, cooldown=0)  # no cooldown: only the per-object dedup can stop a repeat
    tracker = MotionTracker()
    events = []
    for t in range(0, 600):
        tracked = tracker.update(dets(scene(t)), float(t))
        tracker_ids.update(tracked.track_id.tolist())
        ev = r.evaluate(FrameContext("cam", float(t), tracked, tracker=tracker))
        if ev is not None:
            events.append(ev)
    assert len(tracker_ids) == 2  # the 12 s loss did give the car a new track id
    assert fired_at(events) == [120.0]
    assert r.active


def test_reacquired_car_keeps_its_stationary_time() -> None:
    # lost from 30 to 42 s (a new track id afterwards): still fires at 60, counting from 0
    events, _ = run(rule(), lambda t: [] if 30 <= t < 42 else [car(0.4)], 200)
    assert fired_at(events) == [60.0] and events[0].started_at == 0.0
    assert events[0].objects[0].track_id == 2


def test_parked_car_partly_hidden_by_passers_by_is_one_alert() -> None:
    def scene(t: float) -> list[Obj]:
        if int(t) % 20 in (5, 6, 7):  # someone walks in front: the box shrinks to the visible left part
            return [("car", 0.4, 0.7, 0.48, 0.8)]
        return [car(0.4)]

    tracker, r = MotionTracker(), rule(cooldown=0)
    events, resets = [], 0
    for t in range(400):
        tracked = tracker.update(dets(scene(t)), float(t))
        resets += tracker.tracks[int(tracked.track_id[0])].still_since == t
        ev = r.evaluate(FrameContext("cam", float(t), tracked, tracker=tracker))
        if ev is not None:
            events.append(ev)
    assert resets > 10  # the tracker did see the box jump, again and again
    assert fired_at(events) == [60.0] and events[0].started_at == 0.0


def test_car_truck_label_flicker_is_one_alert() -> None:
    scene: Scene = lambda t: [car(0.4, "truck" if int(t) % 5 == 0 else "car")]  # noqa: E731
    events, _ = run(rule(cooldown=0), scene, 400)
    assert fired_at(events) == [60.0] and events[0].started_at == 0.0


def test_car_stopping_at_a_red_light_does_not_fire() -> None:
    def scene(t: float, stop: float) -> list[Obj]:
        # drives in from the left at 0.02/s, stops at x=0.4 at t=20 for `stop` s, then drives on
        if t < 20:
            return [car(0.02 * t)]
        if t < 20 + stop:
            return [car(0.4)]
        x = 0.4 + 0.02 * (t - 20 - stop)
        return [car(x)] if x < 0.8 else []

    events, active = run(rule(), lambda t: scene(t, 20), 120)
    assert events == [] and not any(active)
    events, _ = run(rule(), lambda t: scene(t, 90), 200)  # the same street, a car that stays
    # stopped at 20; the tracker's stillness starts at its last anchor reset, up to 0.5 box heights
    # (0.05 here, 2.5 s at 0.02/s) before the full stop
    assert len(events) == 1 and 17 <= events[0].started_at <= 20
    assert events[0].detected_at == events[0].started_at + 60


def test_traffic_only_never_fires() -> None:
    # cars flowing through at 0.03/s, one entering every 8 s
    def scene(t: float) -> list[Obj]:
        return [car(0.03 * (t - s)) for s in range(0, 600, 8) if 0 <= 0.03 * (t - s) < 0.8]

    events, active = run(rule(min_duration=30), scene, 600)
    assert events == [] and not any(active)


def test_people_walking_through_never_dwell() -> None:
    def scene(t: float) -> list[Obj]:
        walkers = []
        for start, speed in [(0, 0.01), (5, 0.015), (10, -0.012), (40, 0.008), (60, -0.02)]:
            x = (0.02 if speed > 0 else 0.9) + speed * (t - start)
            if t >= start and 0 <= x <= 0.95:
                walkers.append(person(x, bottom=0.7 + 0.002 * start))
        return walkers

    events, active = run(rule(classes=["person"], event_type="road_vending", min_duration=30), scene, 200)
    assert events == [] and not any(active)


def test_another_car_inside_cooldown_waits_and_each_car_fires_once() -> None:
    def scene(t: float) -> list[Obj]:
        return [car(0.1)] + ([car(0.6)] if t >= 30 else [])

    events, _ = run(rule(cooldown=120), scene, 600)
    # car 1 at 60; car 2 could fire at 90 but the cooldown holds it to 180; neither fires again
    assert fired_at(events) == [60.0, 180.0]
    assert [e.started_at for e in events] == [0.0, 30.0]
    assert events[0].objects[0].track_id != events[1].objects[0].track_id


def test_car_leaving_then_another_parking_there_is_a_new_alert() -> None:
    def scene(t: float) -> list[Obj]:
        if t < 100:
            return [car(0.4)]
        if t < 130:  # drives off to the right
            x = 0.4 + 0.03 * (t - 100)
            return [car(x)] if x < 0.8 else []
        return [car(0.4)] if t >= 200 else []  # another car, in the same spot

    events, active = run(rule(cooldown=60), scene, 400)
    assert fired_at(events) == [60.0, 260.0]
    assert not active[150]  # the spot was clear between the two


def test_bus_passing_in_front_does_not_duplicate_the_alert() -> None:
    def scene(t: float) -> list[Obj]:
        if not 100 <= t < 112:
            return [car(0.4)]
        bx = 0.1 + 0.05 * (t - 100)  # a bus 0.3 wide passing over the car, hiding it
        return [("bus", bx, 0.65, bx + 0.3, 0.81)]

    events, _ = run(rule(cooldown=5), scene, 400)  # short cooldown: only dedup can stop a second alert
    assert fired_at(events) == [60.0]


def test_parked_outside_the_zone_never_fires() -> None:
    events, active = run(rule(), lambda t: [("car", 0.4, 0.3, 0.6, 0.4)], 200)  # feet at y=0.4
    assert events == [] and not any(active)


def test_whole_frame_without_zone() -> None:
    events, _ = run(rule(zone=None), lambda t: [("car", 0.4, 0.3, 0.6, 0.4)], 200)
    assert fired_at(events) == [60.0] and events[0].zone is None and events[0].zone_polygon is None


def test_low_scores_are_misses() -> None:
    tracker, r = MotionTracker(), rule(min_duration=10)
    for t in range(60):
        tracked = tracker.update(dets([car(0.4)], score=0.2), float(t))
        assert r.evaluate(FrameContext("cam", float(t), tracked, tracker=tracker)) is None


def test_needs_the_tracker() -> None:
    with pytest.raises(ValueError, match="tracker"):
        rule().evaluate(FrameContext("cam", 0.0, dets([car(0.4)])))


# ---------------------------------------------------------------- road vending


def vending(**kw: object) -> Dwell:
    params: dict[str, object] = {
        "event_type": "road_vending",
        "classes": ["umbrella", "dining table"],
        "with_classes": ["person"],
        "min_duration": 60,
    }
    params.update(kw)
    return rule(**params)


def vendor(t: float) -> Obj:
    return person(0.42 + 0.01 * np.sin(t / 3))  # shifts about behind the stall


def test_vending_fires_for_a_person_at_a_stationary_parasol() -> None:
    events, _ = run(vending(), lambda t: [umbrella(0.4), vendor(t)], 300)
    assert fired_at(events) == [60.0]
    ev = events[0]
    assert ev.count == 1 and ev.started_at == 0.0
    assert sorted(o.label for o in ev.objects) == ["person", "umbrella"]
    assert all(o.track_id > 0 for o in ev.objects)


def test_vending_counts_from_when_the_vendor_arrived() -> None:
    events, _ = run(vending(), lambda t: [umbrella(0.4)] + ([vendor(t)] if t >= 40 else []), 300)
    assert fired_at(events) == [100.0] and events[0].started_at == 40.0


def test_person_standing_alone_is_not_vending() -> None:
    events, active = run(vending(), lambda t: [person(0.42)], 300)
    assert events == [] and not any(active)


def test_parasol_alone_is_not_vending() -> None:
    events, active = run(vending(), lambda t: [umbrella(0.4)], 300)
    assert events == [] and not any(active)


def test_walking_under_an_umbrella_is_not_vending() -> None:
    def scene(t: float) -> list[Obj]:  # a rainy day: the person and the umbrella move together
        x = 0.02 + 0.006 * t
        return [("umbrella", x - 0.03, 0.55, x + 0.08, 0.62), person(x)] if x < 0.9 else []

    events, active = run(vending(), scene, 200)
    assert events == [] and not any(active)


def test_passers_by_at_a_table_are_not_vending() -> None:
    def scene(t: float) -> list[Obj]:
        objs: list[Obj] = [("dining table", 0.4, 0.65, 0.55, 0.78)]
        phase = t % 45  # every 45 s someone walks past, near the table for a few seconds
        if phase < 20:
            objs.append(person(0.2 + 0.02 * phase))
        return objs

    events, active = run(vending(max_gap=20), scene, 400)
    assert events == [] and not any(active)


def test_person_far_from_the_stall_does_not_count() -> None:
    events, _ = run(vending(), lambda t: [umbrella(0.1), person(0.8)], 200)
    assert events == []


def test_parasol_above_the_zone_is_placed_by_its_vendors_feet() -> None:
    # the canopy's box ends at y=0.45, outside the road zone (y ≥ 0.5); the vendor stands in it
    parasol: Obj = ("umbrella", 0.4, 0.38, 0.55, 0.45)
    events, _ = run(vending(), lambda t: [parasol, person(0.45, bottom=0.62)], 120)
    assert fired_at(events) == [60.0]
    events, _ = run(vending(), lambda t: [parasol, person(0.45, bottom=0.47)], 120)  # both outside
    assert events == []


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"with_within": 2.0}, "with_within needs with_classes"),
        ({"classes": ["person"], "with_classes": ["person"]}, "in both classes and with_classes"),
        ({"max_gap": "a while"}, "not a duration"),
        ({"min_duration": -5}, "greater than or equal to 0"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_dwell_config_is_refused(extra: dict[str, object], message: str) -> None:
    params = {"kind": "dwell", "event_type": "motor_parking", "classes": MOTOR, **extra}
    with pytest.raises(ValidationError, match=message):
        DwellParams.model_validate(params)


def test_unknown_companion_class_is_refused_when_built() -> None:
    cfg = DwellParams.model_validate(
        {"kind": "dwell", "event_type": "road_vending", "classes": ["umbrella"], "with_classes": ["vendor"]}
    )
    with pytest.raises(ValueError, match="no class 'vendor'"):
        Dwell(cfg, ZoneArea(None), RuleEnv("cam", CLASSES))


CHECKED = """\
cameras:
  - id: cam1
    source: /tmp/none.mp4
    zones:
      - name: pavement
        polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]
    rules:
      - kind: dwell
        event_type: motor_parking
        zone: pavement
        classes: [car, bus, truck, motorcycle]
        min_duration: 5m
        cooldown: 10m
        max_gap: 30s
      - kind: dwell
        event_type: road_vending
        zone: pavement
        classes: [umbrella, dining table]
        with_classes: [person]
        with_within: 1.0
        min_duration: 3m
      - kind: count_in_zone
        event_type: nonmotor_parking
        zone: pavement
        min_per_class: {bicycle: 5, motorcycle: 3}
        min_duration: 10m
      - kind: count_in_zone
        event_type: crowd_gathering
        classes: [person]
        min_count: 10
      - kind: line_crossing
        event_type: crowd_gathering
        line: [[0.1, 0.6], [0.9, 0.6]]
        direction: a_to_b
        classes: [car, truck]
        min_count: 3
        window: 10m
"""


def test_sentinel_check_accepts_the_rules_and_they_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sentinel.config.loader import load_config
    from sentinel.detect.detectors import load_model_card

    path = tmp_path / "sentinel.yaml"
    path.write_text(CHECKED, encoding="utf-8")
    code = main(["check", "--config", str(path)])
    out = capsys.readouterr()
    assert code == 0, out.err + out.out
    config = load_config(path)
    rules = build_rules(config.cameras[0], load_model_card(config.detector.model).classes)
    assert [r.kind for r in rules] == ["dwell", "dwell", "count_in_zone", "count_in_zone", "line_crossing"]
