"""line_crossing on synthetic walkers with exact ground truth, through a real MotionTracker: which side is A,
direction, once per track, the segment's ends, the min_count window, cooldown."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from pydantic import ValidationError

from sentinel.detect.detections import Detections
from sentinel.detect.rules import RuleEnv, RuleEvent
from sentinel.detect.rules.base import FrameContext
from sentinel.detect.rules.line_crossing import LineCrossing, LineCrossingParams
from sentinel.detect.settings import Zone
from sentinel.detect.tracker import MotionTracker
from sentinel.detect.zones import ZoneArea

CLASSES = ["person", "bicycle", "car"]
HORIZONTAL = [[0.0, 0.5], [1.0, 0.5]]  # A: the upper half, B: the lower half
LEFT_HALF = Zone(name="left", polygon=[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])

Feet = tuple[float, float, int]  # x, y of the bottom-centre, class id


def frame(feet: list[Feet]) -> Detections:
    """A 0.04 × 0.2 box standing on each point."""
    boxes = np.array([[x - 0.02, y - 0.2, x + 0.02, y] for x, y, _ in feet], dtype=np.float32).reshape(-1, 4)
    return Detections(boxes, np.full(len(feet), 0.8, np.float32), np.array([c for *_, c in feet], np.int32))


def walker(t: float, start: float, x: float, y0: float, vy: float, cls: int = 0) -> list[Feet]:
    """Walks vertically from (x, y0) at vy per second from `start`; in view while 0.25 < y < 0.95."""
    y = y0 + vy * (t - start)
    return [(x, y, cls)] if t >= start and 0.25 < y < 0.95 else []


def rule(**kw: object) -> LineCrossing:
    params: dict[str, object] = {
        "kind": "line_crossing",
        "event_type": "crowd_gathering",
        "line": HORIZONTAL,
        "direction": "both",
        "min_count": 1,
        "window": 60,
        "cooldown": 0,
    }
    params.update(kw)
    cfg = LineCrossingParams.model_validate(params)
    return LineCrossing(cfg, ZoneArea(LEFT_HALF if cfg.zone == "left" else None), RuleEnv("cam", CLASSES))


def run(r: LineCrossing, scene: Callable[[float], list[Feet]], seconds: float) -> list[RuleEvent]:
    tracker = MotionTracker()
    events = []
    for t in range(int(seconds) + 1):
        tracked = tracker.update(frame(scene(float(t))), float(t))
        ev = r.evaluate(FrameContext("cam", float(t), tracked, tracker=tracker))
        if ev is not None:
            events.append(ev)
    return events


def down(t: float) -> list[Feet]:  # A → B: from y=0.3 down across y=0.5 (crosses between t=6 and t=7)
    return walker(t, 0, 0.3, 0.3, 0.03)


def up(t: float) -> list[Feet]:  # B → A
    return walker(t, 0, 0.3, 0.9, -0.03)


@pytest.mark.parametrize(
    ("direction", "scene", "fired"),
    [
        ("a_to_b", down, [7.0]),  # y: 0.48 at t=6, 0.51 at t=7
        ("a_to_b", up, []),
        ("b_to_a", down, []),
        ("b_to_a", up, [14.0]),  # y: 0.51 at t=13, 0.48 at t=14
        ("both", down, [7.0]),
        ("both", up, [14.0]),
    ],
)
def test_direction(direction: str, scene: Callable[[float], list[Feet]], fired: list[float]) -> None:
    assert [e.detected_at for e in run(rule(direction=direction), scene, 40)] == fired


def test_side_a_is_left_of_the_directed_line_as_seen() -> None:
    r = rule()
    assert r.side(0.5, 0.2) == -1 and r.side(0.5, 0.8) == 1  # [[0, .5], [1, .5]]: A above
    r = rule(line=[[0.5, 0.0], [0.5, 1.0]])  # pointing down the picture: A is the right half
    assert r.side(0.8, 0.5) == -1 and r.side(0.2, 0.5) == 1
    r = rule(line=[[1.0, 0.5], [0.0, 0.5]])  # swapped points swap the sides
    assert r.side(0.5, 0.2) == 1
    assert rule().side(0.3, 0.5) is None


def test_event_carries_the_crossing_object() -> None:
    (ev,) = run(rule(), down, 40)
    assert ev.count == 1 and ev.started_at == 7.0 and ev.rule_kind == "line_crossing"
    (obj,) = ev.objects
    assert obj.label == "person" and obj.track_id == 1 and obj.box[3] == pytest.approx(0.51, abs=1e-3)
    assert ev.zone is None and ev.zone_polygon is None


def test_lingering_on_the_line_counts_once_per_track() -> None:
    def scene(t: float) -> list[Feet]:
        return [(0.3, 0.5 + (0.01 if int(t) % 2 else -0.01), 0)]  # feet jitter across the line every frame

    r = rule(min_count=2, window=600)
    assert run(r, scene, 120) == []  # one track, one crossing: never two
    assert len(r.crossings) == 1


def test_there_and_back_counts_once_with_both() -> None:
    def scene(t: float) -> list[Feet]:
        y = 0.36 + 0.03 * t if t <= 10 else 0.66 - 0.03 * (t - 10)  # down across at 5, back up at 16
        return [(0.3, y, 0)]

    r = rule(min_count=2, window=600)
    assert run(r, scene, 20) == []
    assert len(r.crossings) == 1


def test_wrong_way_then_right_way_counts_the_right_way() -> None:
    def scene(t: float) -> list[Feet]:  # up across the line (B → A) at 6, then back down (A → B) at 15
        y = 0.66 - 0.03 * t if t <= 10 else 0.36 + 0.03 * (t - 10)
        return [(0.3, y, 0)]

    events = run(rule(direction="a_to_b"), scene, 20)
    assert [e.detected_at for e in events] == [15.0]


def test_passing_beyond_the_segment_end_is_no_crossing() -> None:
    short = [[0.0, 0.5], [0.5, 0.5]]
    assert run(rule(line=short), lambda t: walker(t, 0, 0.8, 0.3, 0.03), 40) == []  # passes right of it
    assert len(run(rule(line=short), lambda t: walker(t, 0, 0.3, 0.3, 0.03), 40)) == 1


def test_only_its_classes_and_zone() -> None:
    assert run(rule(classes=["car"]), down, 40) == []
    assert run(rule(zone="left"), lambda t: walker(t, 0, 0.8, 0.3, 0.03), 40) == []  # right half
    (ev,) = run(rule(zone="left"), down, 40)
    assert ev.zone == "left" and ev.zone_polygon is not None


def crowd(starts: Sequence[float], x0: float = 0.1) -> Callable[[float], list[Feet]]:
    """One walker per start time, each in its own lane, walking down across the line 7 s after starting."""

    def scene(t: float) -> list[Feet]:
        return [f for i, s in enumerate(starts) for f in walker(t, s, x0 + 0.06 * (i % 12), 0.3, 0.03)]

    return scene


def test_fires_at_the_min_count_th_crossing_within_the_window() -> None:
    events = run(rule(min_count=3, window=30), crowd([0, 10, 20]), 120)  # crossings at 7, 17, 27
    assert [e.detected_at for e in events] == [27.0]
    assert events[0].count == 3 and events[0].started_at == 7.0
    assert len({o.track_id for o in events[0].objects}) == 3


def test_crossings_spread_wider_than_the_window_never_fire() -> None:
    r = rule(min_count=3, window=30)
    assert run(r, crowd([0, 20, 40, 60, 80]), 160) == []  # any three span 40 s
    assert not r.active


def test_fewer_than_min_count_never_fires() -> None:
    assert run(rule(min_count=3, window=600), crowd([0, 10]), 120) == []


def test_cooldown_then_fresh_crossings_fire_again() -> None:
    # crossings at 7, 9, 11 | 13, 15, 17 (inside the cooldown) | 127, 129, 131
    starts = [0, 2, 4, 6, 8, 10, 120, 122, 124]
    r = rule(min_count=3, window=60, cooldown=100)
    events = run(r, crowd(starts), 200)
    # 11: the first three; 13–17 make three fresh ones, but the cooldown (to 111) holds them and by then
    # they have left the 60 s window; 127–131 are three fresh ones after the cooldown
    assert [e.detected_at for e in events] == [11.0, 131.0]
    assert [e.count for e in events] == [3, 3]


def test_crossings_during_cooldown_fire_when_it_ends() -> None:
    r = rule(min_count=2, window=60, cooldown=20)
    events = run(r, crowd([0, 2, 10, 12, 14]), 120)  # crossings at 7, 9 | 17, 19, 21
    # 9: the first two; 19 makes two fresh ones inside the cooldown (to 29); at 29 three are waiting
    assert [e.detected_at for e in events] == [9.0, 29.0]
    assert [e.count for e in events] == [2, 3] and events[1].started_at == 17.0


def test_active_while_the_window_holds_enough() -> None:
    r = rule(min_count=2, window=10)
    tracker = MotionTracker()
    seen = []
    scene = crowd([0, 3])  # crossings at 7 and 10
    for t in range(40):
        tracked = tracker.update(frame(scene(float(t))), float(t))
        r.evaluate(FrameContext("cam", float(t), tracked))
        seen.append(r.active)
    assert seen.index(True) == 10 and not seen[18]  # 7 falls out of the 10 s window at 18


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ([[0.3, 0.3], [0.3, 0.3]], "zero length"),
        ([[0.3, 0.3], [0.302, 0.3]], "zero length"),
        ([[0.3, 0.3], [1.3, 0.3]], "outside the image"),
        ([[0.3, 0.3]], "a line is two points"),
        ([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]], "a line is two points"),
    ],
)
def test_bad_lines_are_refused(line: list[list[float]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LineCrossingParams.model_validate(
            {"kind": "line_crossing", "event_type": "crowd_gathering", "line": line}
        )


def test_bad_direction_and_window_are_refused() -> None:
    base = {"kind": "line_crossing", "event_type": "crowd_gathering", "line": HORIZONTAL}
    with pytest.raises(ValidationError, match="a_to_b"):
        LineCrossingParams.model_validate({**base, "direction": "in"})
    with pytest.raises(ValidationError, match="greater than 0"):
        LineCrossingParams.model_validate({**base, "window": 0})
