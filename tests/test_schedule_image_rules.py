"""A scheduled image rule on real footage (vtest.avi with a composited rubbish pile, NanoDet's detections)
through the one analysis path: static_object keeps learning while disarmed but holds what qualified out of
its background, so a pile put down 4 minutes before the arming -- 2.6 of the background's time constants --
is alerted once, min_duration after the arming, with started_at at the arming; nothing before."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sentinel.config.models import CameraConfig
from sentinel.detect.rules import RuleEvent
from sentinel.detect.settings import DetectorConfig
from sentinel.ingest.reader import Frame
from sentinel.pipeline import CameraPipeline
from tests.support.scenes import T_BASE, Placed, times, vtest_detections, vtest_dets

TZ = "Asia/Shanghai"
FPS = 2.0
PILE = Placed((470, 300, 540, 345), t0=20.0, fps=FPS)  # on the road, where people walk past it
ARMED_FROM = "06:18"  # T_BASE is 06:13:20 in Shanghai: the rule arms at media time 280 s


def local(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, ZoneInfo(TZ))


def camera(schedule: list[dict[str, str]]) -> CameraConfig:
    rule = {
        "kind": "static_object", "event_type": "garbage_exposed", "zone": "road", "min_duration": 20,
        "settle_time": 5, "learn_time": 100, "cooldown": 600, "schedule": schedule,
    }  # fmt: skip
    return CameraConfig.model_validate(
        {
            "id": "cam", "source": "x.mp4", "clip_pre": 0, "clip_post": 0, "rules": [rule],
            "zones": [{"name": "road", "polygon": [[0.0, 0.3], [1.0, 0.3], [1.0, 0.85], [0.0, 0.85]]}],
        }
    )  # fmt: skip


def alerts(cam: CameraConfig, duration: float) -> list[RuleEvent]:
    classes = vtest_detections(FPS)[1]
    dets, scene = vtest_dets(FPS), PILE.scene()
    pipe = CameraPipeline.for_camera(cam, DetectorConfig(), classes, timezone=TZ)
    events: list[RuleEvent] = []
    for seq, t in enumerate(times(duration, FPS)):
        outcome = pipe.analyse(Frame("cam", scene(t), T_BASE + t, True, seq), dets(t))
        events += [a.event for a in outcome.alerts]
    return events


def test_a_pile_put_down_before_the_arming_is_alerted_from_the_arming() -> None:
    armed_at = T_BASE + 280.0
    assert local(armed_at).strftime("%H:%M:%S") == "06:18:00"
    events = alerts(camera([{"from": ARMED_FROM, "to": "22:00"}]), 330.0)
    assert len(events) == 1, [local(e.detected_at).time() for e in events]
    (event,) = events
    assert event.started_at == armed_at
    assert armed_at + 20 <= event.detected_at <= armed_at + 30, event.detected_at - armed_at
    # unscheduled, the same rule alerts the pile soon after it was put down
    (always,) = alerts(camera([]), 80.0)
    assert abs(always.started_at - (T_BASE + PILE.t0)) <= 5 and always.detected_at < armed_at
