"""`stationary_count` on hand-made tracks: parked bikes are counted, riders passing are not, a pile is one
alert, a pile cleared and formed again is a second, detector misses do not split a pile."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pytest
from pydantic import ValidationError

from sentinel.detect.detections import Detections
from sentinel.detect.rules import RuleEnv, RuleEvent
from sentinel.detect.rules.base import FrameContext
from sentinel.detect.rules.stationary_count import StationaryCount, StationaryCountParams
from sentinel.detect.settings import Zone
from sentinel.detect.tracker import MotionTracker
from sentinel.detect.zones import ZoneArea

CLASSES = ["person", "bicycle", "car", "motorcycle"]
PAVEMENT = Zone(name="pavement", polygon=[(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)])  # the lower half

Obj = tuple[str, float, float, float, float]


def bike(k: int, label: str = "bicycle") -> Obj:
    """The k-th parked bike of a row: 0.08 wide, 0.06 high, standing on y=0.8."""
    x = 0.1 + 0.1 * k
    return (label, x, 0.74, x + 0.08, 0.8)


def riders(t: float, every: float = 15.0, speed: float = 0.04) -> list[Obj]:
    """Cyclists riding left to right along the pavement, one setting off every `every` seconds, at `speed`
    of the width a second (a slow cyclist: a frame's step is half a box width)."""
    out = []
    for k in range(int(t // every) + 1):
        x = speed * (t - k * every)
        if x <= 0.92:
            out.append(("bicycle", x, 0.74, x + 0.08, 0.8))
    return out


def dets(objs: Iterable[Obj]) -> Detections:
    rows = list(objs)
    return Detections(
        np.array([r[1:] for r in rows], dtype=np.float32).reshape(-1, 4),
        np.full(len(rows), 0.8, np.float32),
        np.array([CLASSES.index(r[0]) for r in rows], dtype=np.int32),
    )


def rule(**kw: object) -> StationaryCount:
    params: dict[str, object] = {
        "kind": "stationary_count",
        "event_type": "shared_bike_pile",
        "zone": "pavement",
        "classes": ["bicycle", "motorcycle"],
        "min_count": 5,
        "min_duration": 60,
        "clear_after": 30,
        "cooldown": 0,
    }
    params.update(kw)
    cfg = StationaryCountParams.model_validate(params)
    return StationaryCount(cfg, ZoneArea(PAVEMENT), RuleEnv("cam", CLASSES))


def run(r: StationaryCount, scene: Callable[[float], list[Obj]], seconds: int) -> list[RuleEvent]:
    tracker = MotionTracker()
    events = []
    for ts in range(seconds + 1):
        tracked = tracker.update(dets(scene(float(ts))), float(ts))
        ev = r.evaluate(FrameContext("cam", float(ts), tracked, tracker=tracker))
        if ev is not None:
            events.append(ev)
    return events


def arriving(n: int, every: float, t: float) -> list[Obj]:
    """Bikes parked one every `every` seconds from t=0: those already there at t."""
    return [bike(k) for k in range(n) if t >= k * every]


def test_a_pile_fires_once_when_the_fifth_bike_has_stood_min_duration() -> None:
    events = run(rule(), lambda t: arriving(6, 10.0, t), 400)
    assert [e.detected_at for e in events] == [40.0 + 60.0]  # the fifth parked at 40 s
    ev = events[0]
    assert ev.started_at == 40.0 and ev.rule_kind == "stationary_count"
    assert ev.count == 6 and len(ev.objects) == 6  # the sixth, parked at 50 s, is in the pile by then
    assert {o.label for o in ev.objects} == {"bicycle"}


def test_four_bikes_are_not_a_pile_of_five() -> None:
    assert run(rule(), lambda t: arriving(4, 5.0, t), 600) == []


def test_riders_passing_and_a_moving_queue_are_never_counted() -> None:
    r = rule(min_count=1)
    assert run(r, riders, 600) == []  # a cyclist every 15 s for 10 minutes, each on every spot in turn
    assert not r.active


def test_detector_misses_and_track_loss_keep_one_pile() -> None:
    def scene(t: float) -> list[Obj]:
        # each bike missed for 12 s every 40 s (longer than the tracker's max_age: new track ids)
        return [bike(k) for k in range(5) if (t + 8 * k) % 40 >= 12]

    events = run(rule(), scene, 400)
    assert len(events) == 1


def test_a_pile_cleared_and_formed_again_is_alerted_again() -> None:
    def scene(t: float) -> list[Obj]:
        return arriving(5, 2.0, t) if t < 150 or t >= 260 else []

    events = run(rule(), scene, 420)
    assert [e.detected_at for e in events] == [8.0 + 60.0, 260.0 + 60.0]  # all five back at once


def test_e_bikes_count_with_bicycles() -> None:
    events = run(
        rule(event_type="nonmotor_parking", min_count=2),
        lambda t: [bike(0), bike(1, "motorcycle")] if t >= 5 else [],
        120,
    )
    assert [e.detected_at for e in events] == [65.0]
    assert sorted(o.label for o in events[0].objects) == ["bicycle", "motorcycle"]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValidationError):
        StationaryCountParams.model_validate(
            {"kind": "stationary_count", "event_type": "x", "classes": [], "min_count": 2}
        )
    with pytest.raises(ValidationError):
        StationaryCountParams.model_validate(
            {"kind": "stationary_count", "event_type": "x", "classes": ["bicycle"], "min_count": 0}
        )
    with pytest.raises(ValueError, match="stationary_count: the model has no class 'scooter'"):
        rule(classes=["scooter"])


def test_duplicate_and_merged_boxes_do_not_inflate_the_count() -> None:
    """Three parked bikes, each also boxed a second time (shifted, IoU about 0.7) and the first two boxed
    together: three places, never four."""

    def scene(t: float) -> list[Obj]:
        out = [bike(k) for k in range(3)]
        out += [(lb, x1 + 0.01, y1, x2 + 0.01, y2) for lb, x1, y1, x2, y2 in out]
        out.append(("bicycle", 0.1, 0.73, 0.28, 0.8))  # one box around bikes 0 and 1
        return out

    assert run(rule(min_count=4), scene, 300) == []
    assert [e.count for e in run(rule(min_count=3), scene, 300)] == [3]


def test_a_pile_with_detector_misses_in_every_frame_still_counts() -> None:
    """Six parked bikes, two of them missed in each frame (a different two each time)."""

    def scene(t: float) -> list[Obj]:
        return [bike(k) for k in range(6) if (k - int(t)) % 3 != 0]

    events = run(rule(), scene, 200)
    assert len(events) == 1 and events[0].count >= 5
