"""Schedules and profiles on the one analysis path (`CameraPipeline.for_camera`: real tracker, real rules),
with real clock values injected as frame times in Asia/Shanghai: a rule outside its hours fires nothing, and
after arming fires once for what stood there since before, counted from the arming; an episode open when a
window ends carries nothing into the next; a profile switch changes a threshold and keeps the rule's state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from sentinel.config.models import CameraConfig, SiteConfig
from sentinel.detect.detections import Detections
from sentinel.detect.rules import RuleEvent
from sentinel.detect.schedule import ArmedWindow
from sentinel.detect.settings import DetectorConfig
from sentinel.ingest.reader import Frame
from sentinel.pipeline import CameraPipeline
from sentinel.replay.runner import replay
from tests.test_pipeline import DarkBlobDetector, _clip, _config

TZ = "Asia/Shanghai"
CLASSES = ["person", "bicycle", "car", "motorcycle", "umbrella", "dining table"]
PICTURE = np.full((90, 160, 3), 128, np.uint8)
MON, TUE, SAT = "2026-12-07", "2026-12-08", "2026-12-12"

Box = tuple[str, float, float, float, float]  # label, x1, y1, x2, y2
Scene = Callable[[float], list[Box]]


def at(day: str, hhmm: str) -> float:
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=ZoneInfo(TZ)).timestamp()


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(TZ)).strftime("%H:%M:%S")


def people(n: int) -> list[Box]:
    """n people standing apart on the pavement (lower half of the picture)."""
    return [("person", 0.05 + 0.09 * i, 0.6, 0.1 + 0.09 * i, 0.85) for i in range(n)]


STALL: list[Box] = [("umbrella", 0.40, 0.50, 0.55, 0.58), ("person", 0.45, 0.60, 0.50, 0.85)]


def detections(boxes: list[Box]) -> Detections:
    return Detections(
        np.array([b[1:] for b in boxes], np.float32).reshape(-1, 4),
        np.full(len(boxes), 0.9, np.float32),
        np.array([CLASSES.index(b[0]) for b in boxes], np.int32),
    )


def camera(rule: dict[str, object], profiles: dict[str, object] | None = None) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "cam", "source": "x.mp4", "clip_pre": 0, "clip_post": 0,
            "zones": [{"name": "pavement", "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}],
            "rules": [{"zone": "pavement", **rule}], "profiles": profiles or {},
        }
    )  # fmt: skip


def run(
    cam: CameraConfig, spans: list[tuple[float, float]], scene: Scene, step: float = 5.0
) -> list[RuleEvent]:
    """One pipeline over each (start, end) span in turn, a frame every `step` s; the events it raised."""
    pipe = CameraPipeline.for_camera(cam, DetectorConfig(), CLASSES, timezone=TZ)
    events: list[RuleEvent] = []
    seq = 0
    for start, end in spans:
        for ts in np.arange(start, end + 1e-6, step):
            frame = Frame("cam", PICTURE, float(ts), True, seq)
            events += [a.event for a in pipe.analyse(frame, detections(scene(float(ts)))).alerts]
            seq += 1
    return events


def crowd(min_count: int = 1, min_duration: str = "0s", **kw: object) -> dict[str, object]:
    return {"kind": "count_in_zone", "name": "crowd", "event_type": "crowd_gathering", "min_count": min_count,
            "min_duration": min_duration, "cooldown": "1h", **kw}  # fmt: skip


NIGHT = [{"from": "22:00", "to": "06:00"}]


@pytest.mark.parametrize(
    ("day", "hhmm", "fires"),
    [(MON, "23:30:00", True), (MON, "12:00:00", False), (TUE, "05:59:00", True), (TUE, "06:00:00", False)],
)
def test_a_night_rule_fires_only_in_its_window(day: str, hhmm: str, fires: bool) -> None:
    """Armed 22:00-06:00 in Shanghai: someone appearing at `hhmm` is alerted at once, or not at all."""
    t = at(day, hhmm)
    events = run(camera(crowd(schedule=NIGHT)), [(t - 30, t + 30)], lambda ts: people(1) if ts >= t else [])
    assert [clock(e.detected_at) for e in events] == ([hhmm] if fires else [])


def test_a_weekday_rule_is_silent_at_the_weekend() -> None:
    weekdays = [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "07:00", "to": "22:00"}]
    cam = camera(crowd(schedule=weekdays))
    saturday, monday = at(SAT, "12:00:00"), at(MON, "12:00:00")
    assert run(cam, [(saturday, saturday + 60)], lambda ts: people(1)) == []
    assert len(run(cam, [(monday, monday + 60)], lambda ts: people(1))) == 1


def test_a_crowd_there_before_arming_is_alerted_min_duration_after_it() -> None:
    """Three people from 06:30; the rule is armed from 07:00 and needs them for a minute: one alert at
    07:01, started_at 07:00 -- nothing while disarmed, nothing backdated into the disarmed time."""
    rule = crowd(min_count=3, min_duration="1m", schedule=[{"from": "07:00", "to": "22:00"}])
    events = run(camera(rule), [(at(MON, "06:30:00"), at(MON, "07:10:00"))], lambda ts: people(3))
    assert [(clock(e.started_at), clock(e.detected_at)) for e in events] == [("07:00:00", "07:01:00")]
    # the same rule unscheduled alerts at 06:31: the schedule is what moved it
    always = run(camera(crowd(min_count=3, min_duration="1m")), [(at(MON, "06:30:00"), at(MON, "07:10:00"))],
                 lambda ts: people(3))  # fmt: skip
    assert [clock(e.detected_at) for e in always] == ["06:31:00"]


def vending(**kw: object) -> dict[str, object]:
    return {"kind": "dwell", "name": "vending", "event_type": "road_vending", "classes": ["umbrella"],
            "with_classes": ["person"], "min_duration": "3m", "cooldown": "1h", **kw}  # fmt: skip


BIKES: list[Box] = [("bicycle", 0.20, 0.70, 0.30, 0.80), ("bicycle", 0.32, 0.70, 0.42, 0.80)]
PARKING = {"kind": "dwell", "name": "bikes", "event_type": "nonmotor_parking", "classes": ["bicycle"],
           "min_duration": "3m", "cooldown": "1h"}  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "scene"), [(vending(), STALL), (PARKING, BIKES)], ids=["stall with vendor", "parked bicycles"]
)
def test_a_stall_standing_since_before_arming_counts_from_the_arming(
    rule: dict[str, object], scene: list[Box]
) -> None:
    """The vending case of the brief: a stall (parasol with a vendor), or parked bicycles, still since 06:30
    under a rule armed from 07:00. The tracker ran all along (its stillness dates from 06:30); the rule
    counts from 07:00: one alert at 07:03, started_at 07:00."""
    span = [(at(MON, "06:30:00"), at(MON, "07:10:00"))]
    events = run(camera({**rule, "schedule": [{"from": "07:00", "to": "22:00"}]}), span, lambda ts: scene)
    assert [(clock(e.started_at), clock(e.detected_at)) for e in events] == [("07:00:00", "07:03:00")]
    assert {o.label for o in events[0].objects} == {b[0] for b in scene}
    unscheduled = run(camera(rule), span, lambda ts: scene)
    assert [(clock(e.started_at), clock(e.detected_at)) for e in unscheduled] == [("06:30:00", "06:33:00")]


def test_an_episode_open_when_the_window_ends_carries_nothing_into_the_next() -> None:
    """Armed 22:00-06:00, five minutes needed. A crowd from 05:57 would be due at 06:02, after the window:
    no alert. It is still (or again) there at 22:00: counted from 22:00, not from 05:57 -- one alert at
    22:05 with started_at 22:00."""
    cam = camera(crowd(min_count=3, min_duration="5m", schedule=NIGHT))
    spans = [(at(TUE, "05:50:00"), at(TUE, "06:30:00")), (at(TUE, "21:59:00"), at(TUE, "22:10:00"))]
    events = run(cam, spans, lambda ts: people(3) if ts >= at(TUE, "05:57:00") else [])
    assert [(clock(e.started_at), clock(e.detected_at)) for e in events] == [("22:00:00", "22:05:00")]


def test_a_night_profile_lowers_the_threshold() -> None:
    """Ten people by day, eight from 19:00: nine people from 18:50 are no crowd until the switch."""
    night = {"night": {"schedule": [{"from": "19:00", "to": "07:00"}], "rules": {"crowd": {"min_count": 8}}}}
    cam = camera(crowd(min_count=10, min_duration="1m"), night)
    events = run(cam, [(at(MON, "18:50:00"), at(MON, "19:10:00"))], lambda ts: people(9))
    assert [(clock(e.started_at), clock(e.detected_at), e.count) for e in events] == [
        ("19:00:00", "19:01:00", 9)
    ]
    assert run(camera(crowd(min_count=10, min_duration="1m")), [(at(MON, "18:50:00"), at(MON, "19:10:00"))],
               lambda ts: people(9)) == []  # fmt: skip


def test_a_profile_switch_keeps_the_open_episode() -> None:
    """Five minutes by day, two at night: a crowd from 18:58:30 has held two minutes at 19:00:30 -- the
    episode opened under the day profile is kept through the switch (a rebuilt rule would wait to 19:02)."""
    night = {
        "night": {"schedule": [{"from": "19:00", "to": "07:00"}], "rules": {"crowd": {"min_duration": "2m"}}}
    }
    cam = camera(crowd(min_count=3, min_duration="5m"), night)
    events = run(cam, [(at(MON, "18:55:00"), at(MON, "19:10:00"))],
                 lambda ts: people(3) if ts >= at(MON, "18:58:30") else [])  # fmt: skip
    assert [(clock(e.started_at), clock(e.detected_at)) for e in events] == [("18:58:30", "19:00:30")]


def test_a_rule_rebuilt_by_a_profile_mid_window_dates_nothing_before_the_window() -> None:
    """A profile that changes the classes rebuilds the rule (its state starts afresh, as documented): the
    bicycles still there since 06:30 are alerted again, but from the window's 07:00, not the tracker's 06:30."""
    later = {"later": {"schedule": [{"from": "08:00", "to": "13:00"}],
                     "rules": {"bikes": {"classes": ["bicycle", "motorcycle"]}}}}  # fmt: skip
    cam = camera({**PARKING, "schedule": [{"from": "07:00", "to": "22:00"}]}, later)
    events = run(cam, [(at(MON, "06:30:00"), at(MON, "08:05:00"))], lambda ts: BIKES)
    assert [(clock(e.started_at), clock(e.detected_at)) for e in events] == [
        ("07:00:00", "07:03:00"),
        ("07:00:00", "08:00:00"),
    ]


def test_a_disarmed_rule_reports_no_condition() -> None:
    """No condition while disarmed (a rule that is not looking says nothing about the place); armed, the
    crowd's condition is reported."""
    pipe = CameraPipeline.for_camera(camera(crowd(schedule=NIGHT)), DetectorConfig(), CLASSES, timezone=TZ)
    noon, night = at(MON, "12:00:00"), at(MON, "23:00:00")
    by_day = pipe.analyse(Frame("cam", PICTURE, noon, True, 0), detections(people(1)))
    by_night = pipe.analyse(Frame("cam", PICTURE, night, True, 1), detections(people(1)))
    assert (by_day.conditions, by_day.alerts) == ((), ())
    assert [c.active for c in by_night.conditions] == [True] and len(by_night.alerts) == 1


@pytest.mark.parametrize(("timezone", "alerts"), [("Asia/Shanghai", 0), ("America/New_York", 1)])
def test_replay_judges_schedules_in_the_sites_time_zone(tmp_path: Path, timezone: str, alerts: int) -> None:
    """`sentinel replay` of a recording made at 08:00 UTC -- 16:00 in Shanghai, 03:00 in New York -- under a
    rule armed 22:00-06:00: the site's `timezone` decides, through the config, whether the person is alerted."""
    clip = _clip(tmp_path / "gate.mp4", created="2025-03-01T08:00:00.000000Z")
    config = _config()
    cam = config.cameras[0]
    rule = cam.rules[0].model_copy(update={"schedule": [ArmedWindow.model_validate(w) for w in NIGHT]})
    config = config.model_copy(
        update={"site": SiteConfig(timezone=timezone), "cameras": [cam.model_copy(update={"rules": [rule]})]}
    )
    result = replay(clip, config, None, tmp_path / "out", DarkBlobDetector(), annotated=False)
    assert result.frames > 0
    lines = (tmp_path / "out" / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == alerts
