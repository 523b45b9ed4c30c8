"""count_in_zone on synthetic detections with exact ground truth: the count must hold, episodes clear, cooldown, zones."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from sentinel.detect.detections import Detections
from sentinel.detect.rules import RuleEnv
from sentinel.detect.rules.base import FrameContext
from sentinel.detect.rules.count_in_zone import CountInZone, CountInZoneParams
from sentinel.detect.settings import Zone
from sentinel.detect.tracker import MotionTracker
from sentinel.detect.zones import ZoneArea

CLASSES = ["person", "bicycle", "car", "motorcycle"]
LEFT_HALF = Zone(name="left", polygon=[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])


def people(n: int, x0: float = 0.05, cls: int = 0, score: float = 0.8) -> Detections:
    """n boxes side by side starting at x0, feet at y=0.9."""
    boxes = np.array([[x0 + i * 0.04, 0.6, x0 + i * 0.04 + 0.03, 0.9] for i in range(n)], dtype=np.float32)
    return Detections(boxes.reshape(-1, 4), np.full(n, score, np.float32), np.full(n, cls, np.int32))


def rule(**kw: object) -> CountInZone:
    params: dict[str, object] = {
        "kind": "count_in_zone",
        "event_type": "crowd_gathering",
        "min_count": 5,
        "min_duration": 10,
        "cooldown": 60,
    }
    params.update(kw)
    cfg = CountInZoneParams.model_validate(params)
    zone = LEFT_HALF if cfg.zone == "left" else None
    return CountInZone(cfg, ZoneArea(zone), RuleEnv("cam", CLASSES))


def feed(r: CountInZone, counts: list[int], step: float = 1.0, **kw: object) -> list[float]:
    """Feed one frame per `step` seconds with counts[i] people; return the times it fired."""
    fired = []
    for i, n in enumerate(counts):
        ev = r.evaluate(FrameContext("cam", 1000.0 + i * step, people(n, **kw)))  # type: ignore[arg-type]
        if ev is not None:
            fired.append(ev.detected_at - 1000.0)
    return fired


def test_fires_once_after_min_duration() -> None:
    assert feed(rule(), [5] * 30) == [10.0]


def test_below_min_count_never_fires() -> None:
    assert feed(rule(), [4] * 60) == []


def test_short_gathering_is_debounced() -> None:
    assert feed(rule(), [5] * 8 + [0] * 10 + [5] * 8) == []


def test_one_missed_frame_does_not_split_the_gathering() -> None:
    counts = [5] * 6 + [0] + [5] * 20  # a detector miss at t=6
    assert feed(rule(), counts) == [10.0]


def test_cooldown_then_new_gathering_fires_again() -> None:
    counts = [5] * 20 + [0] * 30 + [5] * 40
    fired = feed(rule(cooldown=30), counts)
    assert fired == [10.0, 60.0]  # second episode starts at 50, holds 10 s


def test_new_gathering_inside_cooldown_waits() -> None:
    counts = [5] * 15 + [0] * 10 + [5] * 60
    # first fires at 10; second episode starts at 25, could fire at 35, cooldown (60 s) holds it to 70
    assert feed(rule(cooldown=60), counts) == [10.0, 70.0]


def test_zone_membership_by_feet() -> None:
    r = rule(zone="left", min_count=3, min_duration=0)
    assert r.evaluate(FrameContext("cam", 0.0, people(3, x0=0.6))) is None  # all in the right half
    ev = r.evaluate(FrameContext("cam", 1.0, people(3, x0=0.05)))
    assert ev is not None and ev.count == 3 and ev.zone == "left"
    assert ev.zone_polygon is not None and len(ev.zone_polygon) == 4


def test_counts_only_its_classes_and_confident_ones() -> None:
    r = rule(min_count=2, min_duration=0, classes=["bicycle"])
    assert r.evaluate(FrameContext("cam", 0.0, people(5, cls=0))) is None
    assert r.evaluate(FrameContext("cam", 1.0, people(5, cls=1, score=0.2))) is None  # below min_score
    ev = r.evaluate(FrameContext("cam", 2.0, people(2, cls=1)))
    assert ev is not None and {o.label for o in ev.objects} == {"bicycle"}


def test_event_carries_objects_and_confidence() -> None:
    r = rule(min_count=2, min_duration=0)
    ev = r.evaluate(FrameContext("cam", 5.0, people(3, score=0.7)))
    assert ev is not None
    assert ev.count == 3 and len(ev.objects) == 3
    assert abs(ev.confidence - 0.7) < 1e-3
    assert all(0 <= v <= 1 for o in ev.objects for v in o.box)


def test_tracker_keeps_ids_and_measures_stillness() -> None:
    tracker = MotionTracker()
    a = tracker.update(people(3), 0.0)
    b = tracker.update(people(3), 1.0)
    assert list(a.track_id) == list(b.track_id)
    assert len(set(a.track_id.tolist())) == 3
    moved = people(3)
    moved.xyxy[0] += np.array([0.01, 0, 0.01, 0], dtype=np.float32)  # jitter, still overlaps
    c = tracker.update(moved, 4.0)
    assert c.track_id[0] == a.track_id[0]
    assert tracker.tracks[int(c.track_id[1])].stationary_for(4.0) == 4.0
    far = Detections(
        np.array([[0.8, 0.1, 0.83, 0.4]], np.float32), np.array([0.9], np.float32), np.array([0], np.int32)
    )
    d = tracker.update(far, 5.0)
    assert d.track_id[0] not in a.track_id  # no overlap: a new track
    tracker.update(Detections.empty(), 30.0)
    assert not tracker.tracks  # all expired after max_age


def test_tracker_keeps_neighbours_apart_from_a_stronger_match() -> None:
    """A taken track's other candidate pairs must not end the matching early (it used to `break` there,
    giving every weaker match, even a lone object far away, a fresh id)."""
    tracker = MotionTracker()

    def frame(*xs: float) -> Detections:
        boxes = np.array([[x, 0.5, x + 0.05, 0.7] for x in xs], np.float32)
        return Detections(boxes, np.full(len(xs), 0.9, np.float32), np.zeros(len(xs), np.int32))

    first = tracker.update(frame(0.10, 0.13, 0.80), 0.0)
    # the right neighbour steps towards the left one (overlapping its old box more than its own),
    # the lone object moves a little
    second = tracker.update(frame(0.10, 0.11, 0.815), 1.0)
    assert second.track_id.tolist() == first.track_id.tolist()


# ---------------------------------------------------------------- per-class counting


def pile(bikes: int, motos: int) -> Detections:
    """`bikes` bicycles then `motos` motorcycles (e-bikes, to COCO) side by side in the left half."""
    both = [people(bikes, cls=1), people(motos, x0=0.05 + bikes * 0.04, cls=3)]
    return Detections(
        np.concatenate([d.xyxy for d in both]),
        np.concatenate([d.score for d in both]),
        np.concatenate([d.class_id for d in both]),
    )


def feed_piles(r: CountInZone, piles: list[tuple[int, int]]) -> list[float]:
    fired = []
    for i, (b, m) in enumerate(piles):
        ev = r.evaluate(FrameContext("cam", 1000.0 + i, pile(b, m)))
        if ev is not None:
            fired.append(ev.detected_at - 1000.0)
    return fired


def test_classes_counted_together() -> None:
    r = rule(event_type="nonmotor_parking", classes=["bicycle", "motorcycle"], min_count=5)
    assert feed_piles(r, [(3, 2)] * 20) == [10.0]  # 3 + 2 reach 5 together
    r = rule(event_type="nonmotor_parking", classes=["bicycle", "motorcycle"], min_count=5)
    assert feed_piles(r, [(3, 1)] * 20) == []
    assert feed(rule(classes=["bicycle", "motorcycle"]), [9] * 20) == []  # people are not bikes


def test_min_per_class_needs_every_minimum() -> None:
    def per_class() -> CountInZone:
        return rule(
            event_type="nonmotor_parking", min_count=None, min_per_class={"bicycle": 3, "motorcycle": 2}
        )

    assert per_class().cfg.classes == ["bicycle", "motorcycle"]  # classes come from the minimums
    assert feed_piles(per_class(), [(3, 2)] * 20) == [10.0]
    assert feed_piles(per_class(), [(6, 1)] * 20) == []  # plenty of bikes, too few e-bikes
    assert feed_piles(per_class(), [(2, 5)] * 20) == []
    ev = per_class().evaluate(FrameContext("cam", 0.0, pile(4, 2)))
    assert ev is None  # debounce holds even when both minimums are met at once


def test_min_per_class_with_a_total() -> None:
    # at least 6 two-wheelers, of which at least 2 bicycles
    r = rule(classes=["bicycle", "motorcycle"], min_count=6, min_per_class={"bicycle": 2})
    assert feed_piles(r, [(2, 4)] * 20) == [10.0]
    r = rule(classes=["bicycle", "motorcycle"], min_count=6, min_per_class={"bicycle": 2})
    assert feed_piles(r, [(1, 6)] * 20) == []


def test_per_class_pile_that_shrinks_clears_and_a_new_one_is_alerted() -> None:
    r = rule(min_count=None, min_per_class={"bicycle": 5}, min_duration=10, cooldown=0)
    # 5 bikes, then 3 for 20 s (below the minimum for longer than clear_after, 5 s): the pile cleared;
    # 5 again from 32 s is a new pile, alerted at 42 s
    piles = [(5, 0)] * 12 + [(3, 0)] * 20 + [(5, 0)] * 20
    assert feed_piles(r, piles) == [10.0, 42.0]
    r = rule(min_count=None, min_per_class={"bicycle": 5}, min_duration=10, cooldown=0)
    piles = [(5, 0)] * 12 + [(3, 0)] * 3 + [(5, 0)] * 20  # 3 s short, inside clear_after: one pile
    assert feed_piles(r, piles) == [10.0]


def test_crowd_reads_naturally_either_way() -> None:
    a = CountInZoneParams.model_validate(
        {"kind": "count_in_zone", "event_type": "crowd_gathering", "min_count": 8}
    )
    b = CountInZoneParams.model_validate(
        {"kind": "count_in_zone", "event_type": "crowd_gathering", "min_per_class": {"person": 8}}
    )
    assert a.classes == b.classes == ["person"]
    env = RuleEnv("cam", CLASSES)
    for cfg in (a, b):
        r = CountInZone(cfg.model_copy(update={"min_duration": 0.0}), ZoneArea(None), env)
        assert r.evaluate(FrameContext("cam", 0.0, people(7))) is None
        assert r.evaluate(FrameContext("cam", 1.0, people(8))) is not None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "set min_count"),
        (
            {"classes": ["bicycle"], "min_per_class": {"motorcycle": 2}},
            "'motorcycle', which is not in classes",
        ),
        ({"min_per_class": {"bicycle": 0}}, "greater than or equal to 1"),
        ({"min_count": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_minimums_are_refused(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CountInZoneParams.model_validate(
            {"kind": "count_in_zone", "event_type": "nonmotor_parking", **params}
        )


def test_unknown_class_in_min_per_class_is_refused_when_built() -> None:
    cfg = CountInZoneParams.model_validate(
        {"kind": "count_in_zone", "event_type": "nonmotor_parking", "min_per_class": {"ebike": 3}}
    )
    with pytest.raises(ValueError, match="no class 'ebike'"):
        CountInZone(cfg, ZoneArea(None), RuleEnv("cam", CLASSES))
