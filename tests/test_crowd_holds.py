"""count_in_zone's holding count, on synthetic counts and on the real detector's boxes over vtest: a count
must hold through `min_duration`, episodes clear, a crowd's severity scales with its size."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from sentinel.detect.detections import Detections
from sentinel.detect.rules import RuleEnv
from sentinel.detect.rules.base import FrameContext, RuleEvent
from sentinel.detect.rules.count_in_zone import CountInZone, CountInZoneParams
from sentinel.detect.zones import ZoneArea
from tests.support.scenes import vtest_detections


def crowd_rule(names: list[str], min_count: int = 10, **kw: object) -> CountInZone:
    params: dict[str, object] = {
        "kind": "count_in_zone",
        "event_type": "crowd_gathering",
        "min_count": min_count,
        "min_duration": 60,
        "cooldown": 60,
        **kw,
    }
    return CountInZone(CountInZoneParams.model_validate(params), ZoneArea(None), RuleEnv("cam", names))


def standing(n: int, cls: int = 0) -> Detections:
    """n people standing in a row at the bottom left (away from nothing: the rule counts the whole frame)."""
    boxes = np.array([[0.01 + i * 0.02, 0.7, 0.025 + i * 0.02, 0.95] for i in range(n)], np.float32)
    return Detections(boxes.reshape(-1, 4), np.full(n, 0.8, np.float32), np.full(n, cls, np.int32))


def joined(a: Detections, b: Detections) -> Detections:
    return Detections(
        np.concatenate([a.xyxy, b.xyxy]),
        np.concatenate([a.score, b.score]),
        np.concatenate([a.class_id, b.class_id]),
    )


def run(r: CountInZone, frames: list[Detections], step: float = 1.0) -> list[RuleEvent]:
    events = []
    for i, dets in enumerate(frames):
        ev = r.evaluate(FrameContext("cam", 1000.0 + i * step, dets))
        if ev is not None:
            events.append(ev)
    return events


def at(events: list[RuleEvent]) -> list[float]:
    return [ev.detected_at - 1000.0 for ev in events]


CLASSES = ["person", "bicycle"]


def test_a_crowd_of_ten_that_thins_to_six_is_not_alerted() -> None:
    # the evaluation's false alert: a momentary 10, then 6, then another momentary 10 a minute later
    counts = [10] * 3 + [6] * 63 + [10] * 2 + [6] * 120
    r = crowd_rule(CLASSES)
    assert at(run(r, [standing(n) for n in counts])) == []


def test_a_crowd_that_forms_disperses_and_forms_again_is_alerted_twice() -> None:
    counts = [12] * 90 + [3] * 60 + [12] * 90
    r = crowd_rule(CLASSES)
    events = run(r, [standing(n) for n in counts])
    assert at(events) == [60.0, 210.0]
    assert [ev.started_at - 1000.0 for ev in events] == [0.0, 150.0]


def test_an_ongoing_crowd_is_alerted_once_and_stays_active() -> None:
    r = crowd_rule(CLASSES, cooldown=30)
    actives = []
    events = []
    for i in range(600):
        ev = r.evaluate(FrameContext("cam", 1000.0 + i, standing(12)))
        events += [ev] if ev else []
        actives.append(r.active)
    assert at(events) == [60.0]
    assert all(actives)
    for i in range(600, 640):  # it leaves: clear_after (30 s) later the rule is inactive
        r.evaluate(FrameContext("cam", 1000.0 + i, standing(2)))
    assert not r.active


def test_missed_detections_in_a_frame_or_two_are_tolerated() -> None:
    counts = [3] * 20 + [12] * 25 + [8, 9] + [12] * 20 + [7] + [12] * 40
    events = run(crowd_rule(CLASSES), [standing(n) for n in counts])
    assert at(events) == [80.0]
    assert events[0].started_at - 1000.0 == 20.0  # when the holding count began, not the alert minus 60 s
    assert events[0].count == 12  # the median over the window, not the dip


def test_started_at_is_when_the_holding_count_began() -> None:
    # 10 momentarily at 0 s, 6 for 20 s (inside clear_after: the episode stays open), 12 from 21 s: the
    # window holds from 69 s (a fifth of it may fall short), the alert waits for a full minute of holding
    counts = [10] + [6] * 20 + [12] * 80
    events = run(crowd_rule(CLASSES), [standing(n) for n in counts])
    assert at(events) == [81.0]
    assert events[0].started_at - 1000.0 == 21.0


def test_severity_scales_with_the_count() -> None:
    normal = run(crowd_rule(CLASSES), [standing(19)] * 70)
    urgent = run(crowd_rule(CLASSES), [standing(20)] * 70)
    assert [ev.severity for ev in normal] == [None]  # the event type's (crowd_gathering: normal)
    assert [ev.severity for ev in urgent] == ["urgent"]
    bikes = run(crowd_rule(CLASSES, classes=["bicycle"]), [standing(30, cls=1)] * 70)
    assert [ev.severity for ev in bikes] == [None]  # a bike pile is never urgent by default
    bikes = run(crowd_rule(CLASSES, classes=["bicycle"], urgent_ratio=3), [standing(30, cls=1)] * 70)
    assert [ev.severity for ev in bikes] == ["urgent"]


def test_clear_ratio_is_refused_with_what_replaced_it() -> None:
    with pytest.raises(ValidationError, match="clear_ratio is no longer used.*clear_after"):
        CountInZoneParams.model_validate(
            {"kind": "count_in_zone", "event_type": "crowd_gathering", "min_count": 5, "clear_ratio": 0.6}
        )


# ---------------------------------------------------------------- the real detector over vtest


def plaza(minutes: float, extra: dict[int, int] | None = None) -> tuple[list[Detections], list[str]]:
    """vtest's real detections (2 fps), looped for `minutes`; `extra[i]`: people standing in frame i."""
    dets, names = vtest_detections(2.0)
    n = int(minutes * 120)
    extra = extra or {}
    frames = [dets[i % len(dets)] for i in range(n)]
    return [joined(f, standing(extra[i])) if extra.get(i) else f for i, f in enumerate(frames)], names


def test_a_busy_plaza_just_below_min_count_never_alerts() -> None:
    # vtest's pedestrians: a median of 7 people per frame (2..13); min_count 8 is just above it
    frames, names = plaza(10)
    assert at(run(crowd_rule(names, min_count=8), frames, step=0.5)) == []


def test_a_crowd_joining_the_plaza_is_alerted_once_and_thinning_is_not() -> None:
    # 10 people stand for 3 minutes in the plaza (whose own count is 2..13, 20th percentile 5)
    frames, names = plaza(6, {i: 10 for i in range(120, 480)})
    events = run(crowd_rule(names, min_count=14), frames, step=0.5)
    assert len(events) == 1
    assert 60.0 <= events[0].started_at - 1000.0 <= 61.0 and 120.0 <= at(events)[0] <= 125.0
    # 10 for 5 s that thin to 6: the momentary peak reaches 14 but the count does not hold
    frames, names = plaza(6, {i: 10 if i < 130 else 6 for i in range(120, 480)})
    assert at(run(crowd_rule(names, min_count=14), frames, step=0.5)) == []


# ---------------------------------------------------------------- severity on the alert and the case


def test_the_alert_and_the_case_carry_the_crowds_severity() -> None:
    import json
    from datetime import datetime
    from pathlib import Path
    from zoneinfo import ZoneInfo

    import jsonschema
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    import sentinel.alerts.models
    import sentinel.cases.models  # noqa: F401 (their tables)
    from sentinel.alerts.builder import build_alert, new_alert_id
    from sentinel.cases.routing import Routing
    from sentinel.cases.steps import new_case
    from sentinel.config.event_types import default_event_types
    from sentinel.config.models import CameraConfig
    from sentinel.storage.db import Base

    tz = ZoneInfo("Asia/Shanghai")
    crowd = default_event_types()["crowd_gathering"]
    camera = CameraConfig(id="c", source="/x.mp4")
    schema = json.loads((Path(__file__).parents[1] / "sentinel" / "data" / "alert.schema.json").read_text())
    large, ordinary = (
        run(crowd_rule(CLASSES), [standing(n)] * 70)[0] for n in (24, 12)
    )  # min_count 10: 24 >= 2 x 10
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    grid = "110101001002003"
    routing = Routing(grid, grid[:12], grid[:9], "w1", "gl1", "cd1", "sd1")
    for event, severity in ((large, "urgent"), (ordinary, "normal")):
        alert = build_alert(new_alert_id(), "s", event, camera, crowd, tz, None)
        assert alert.severity == severity
        jsonschema.validate(json.loads(alert.to_json()), schema)
        with Session(engine) as s:
            case = new_case(s, crowd, alert, routing, grid, datetime.now(tz))
            assert case.severity == severity
