"""Smoke test of the evaluation harness (bench/evaluate.py, bench/scenarios.py): one small scenario clip of each
kind is built and checked against its ground truth pixel by pixel, the matcher and the per-type bookkeeping
are checked on hand-made alert lists, and one short clip goes through the real replay pipeline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import numpy as np
import pytest

from bench.evaluate import (
    BURST_GAP,
    SeenAlert,
    bursts,
    implemented,
    match,
    poisson_upper,
    run_scenario,
    tally,
)
from bench.scenarios import (
    SCENE_MIN_AREA,
    ZONE_POLYS,
    Build,
    Dump,
    Gather,
    Park,
    Scenario,
    Tamper,
    _polygon_mask,
    smoke_scenarios,
    write_clip,
)
from sentinel.config.models import CountInZoneRule
from tests.support.footage import vtest_path

SMOKE = {s.family: s for s in smoke_scenarios()}


def decoded(path: object) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def region(s: Scenario) -> tuple[slice, slice]:
    """Where the scenario's injection shows (rows, cols)."""
    inj = s.inject
    if isinstance(inj, Dump | Park):
        x, y = inj.at
        half = (inj.size[0] if isinstance(inj, Dump) else inj.width) // 2
        return slice(max(y - 40, 0), y), slice(x - half // 2, x + half // 2)
    if isinstance(inj, Gather):
        x, y = inj.at
        return slice(y - 100, y + 20), slice(x - 120, x + 120)
    if isinstance(inj, Build):
        x1, y1, x2, y2 = inj.box
        return slice(y1, y2), slice(x1, x2)
    return slice(None), slice(None)  # tampering: the whole view


@pytest.mark.parametrize("family", sorted(SMOKE))
def test_scenario_clip_shows_its_event_from_the_onset_and_not_before(family: str) -> None:
    vtest_path()  # skips without the footage
    s = SMOKE[family]
    why = s.available()
    if why is not None:
        pytest.skip(why)
    frames = decoded(write_clip(s))
    assert len(frames) == round(s.duration * s.fps)
    assert frames[0].shape == (576, 768, 3)
    base = dataclasses.replace(s, inject=None).scene()
    diffs = []
    for i, f in enumerate(frames):
        d = np.abs(f.astype(np.int16) - base(i / s.fps).astype(np.int16)).max(axis=2)
        diffs.append(d)
    times = [i / s.fps for i in range(len(frames))]
    rows, cols = region(s)
    if s.onset is None:  # event-free: the clip is the footage (up to H.264 noise)
        assert max(float((d > 40).mean()) for d in diffs) < 0.01
        return
    first = s.inject.t0 if isinstance(s.inject, Build) else s.onset
    for t, d in zip(times, diffs, strict=True):
        changed = float((d[rows, cols] > 40).mean())
        if t < first:
            assert changed < 0.02, (t, changed)  # nothing injected yet: only codec noise
        elif t >= s.onset:
            assert changed > 0.15, (t, changed)
    if isinstance(s.inject, Build):  # onset: the structure just covers SCENE_MIN_AREA of its zone
        zone = _polygon_mask(dict(ZONE_POLYS)[s.inject.zone])
        share = [float(((d > 40) & zone).sum()) / zone.sum() for d in diffs]
        at = times.index(s.onset)
        assert share[at] >= 0.8 * SCENE_MIN_AREA and (at == 0 or share[at - 1] < SCENE_MIN_AREA)


def _scenario(
    family: str, event_type: str | None, onset: float, duration: float, camera: str = "standard"
) -> Scenario:
    inject = None if event_type is None else Tamper("covered", onset)
    return Scenario(f"hand_{family}", family, duration, 1.0, camera, event_type, inject)


def test_matcher_and_bookkeeping_on_hand_made_alerts() -> None:
    dump = _scenario("dumping", "garbage_exposed", 75.0, 500.0)  # debounce 300 s: window 75 .. 385 s
    assert dump.debounce == 300.0
    dump_alerts = [
        SeenAlert("garbage_exposed", 70.0, 40.0),  # before the onset: false
        SeenAlert("garbage_exposed", 385.0, 80.0),  # the last second of the window: detected
        SeenAlert("garbage_exposed", 460.0, 420.0),  # again: a repeat, false
        SeenAlert("crowd_gathering", 200.0, 140.0),  # wrong type: false
    ]
    late = _scenario("dumping", "garbage_exposed", 75.0, 500.0)
    late_alerts = [
        SeenAlert("garbage_exposed", 386.0, 80.0)
    ]  # one second too late: in the clip, not detected
    crowd = _scenario("crowd", "crowd_gathering", 30.0, 130.0)
    missed: list[SeenAlert] = []
    free = _scenario("event_free", None, 0.0, 1800.0)
    free_alerts = [SeenAlert("camera_tampered", 600.0, 570.0)]
    timelapse_free = _scenario("event_free", None, 0.0, 3600.0, camera="timelapse")

    o = match(dump, dump_alerts)
    assert o.detected == dump_alerts[1] and o.late is None and o.latency == 310.0
    assert [(a.at, why.split()[0]) for a, why in o.false] == [
        (70.0, "before"),
        (200.0, "wrong"),
        (460.0, "repeat"),
    ]
    o_late = match(late, late_alerts)
    assert o_late.detected is None and o_late.late == late_alerts[0] and not o_late.false
    o_free = match(free, free_alerts)
    assert o_free.detected is None and [why for _, why in o_free.false] == ["event-free footage"]

    outcomes = [o, o_late, match(crowd, missed), o_free, match(timelapse_free, [])]
    st = tally(outcomes)
    g = st["garbage_exposed"]
    assert (g.events, g.detected, g.in_clip, g.recall) == (2, 1, 2, 0.5)
    assert g.latencies == [310.0, 311.0]
    assert (g.fa_free, g.fa_injected) == (0, 2)  # the early one and the repeat
    assert g.hours_free == pytest.approx(
        0.5
    )  # the standard camera's event-free half hour (timelapse has no static_object)
    assert g.fa_rate_free == 0.0
    assert g.fa_rate_all == pytest.approx(2 / (0.5 + (500 + 500 + 130) / 3600))
    c = st["crowd_gathering"]
    assert (c.events, c.detected, c.recall, c.fa_injected) == (1, 0, 0.0, 1)
    t = st["camera_tampered"]
    assert t.events == 0 and t.recall is None
    assert (t.fa_free, t.hours_free) == (1, pytest.approx(1.5))  # both cameras run camera_health
    assert t.fa_rate_free == pytest.approx(1 / 1.5)
    s = st["illegal_construction"]
    assert s.hours_free == pytest.approx(1.5) and s.fa_rate_free == 0.0

    # where: an alert of the right type in the window, but its box elsewhere in the picture, is false
    heap = Scenario(
        "hand_heap",
        "dumping",
        500.0,
        1.0,
        "standard",
        "garbage_exposed",
        Dump("gravel", (150, 480), (110, 56), 75.0),
    )
    assert heap.where() == pytest.approx((0.1237, 0.7361, 0.2669, 0.8333), abs=1e-3)
    there = SeenAlert("garbage_exposed", 380.0, 80.0, boxes=((0.125, 0.74, 0.26, 0.84),))
    elsewhere = SeenAlert("garbage_exposed", 370.0, 80.0, boxes=((0.6, 0.3, 0.7, 0.4),))
    o_heap = match(heap, [elsewhere, there])
    assert o_heap.detected == there and [why for _, why in o_heap.false] == ["elsewhere in the picture"]

    not_yet = tally(outcomes, kinds=implemented() - {"dwell"})
    assert not not_yet["motor_parking"].implemented and not_yet["garbage_exposed"].implemented


def test_upper_bound_and_bursts() -> None:
    # exact one-sided 95 % Poisson limits (Garwood): 3.00 after none, 4.74 after one, 6.30 after two
    assert [round(poisson_upper(n), 2) for n in (0, 1, 2)] == [3.0, 4.74, 6.3]
    assert poisson_upper(0) / 15.0 == pytest.approx(0.2, abs=1e-3)  # why 15 camera-hours are needed
    free = _scenario("event_free", None, 0.0, 7200.0)
    t = "illegal_construction"
    alerts = [SeenAlert(t, 100.0, 0.0), SeenAlert(t, 100.0 + BURST_GAP, 0.0), SeenAlert(t, 5000.0, 0.0),
              SeenAlert("camera_tampered", 50.0, 20.0)]  # fmt: skip
    assert bursts(match(free, alerts)) == {t: 1}  # two within BURST_GAP: one burst; the third stands alone
    crowd = _scenario("crowd", "crowd_gathering", 30.0, 300.0)
    again = [SeenAlert("crowd_gathering", 90.0, 30.0), SeenAlert("crowd_gathering", 95.0, 31.0)]
    o = match(crowd, again)
    assert o.detected == again[0] and bursts(o) == {"crowd_gathering": 1}
    st = tally([o, match(free, alerts)])
    assert st["crowd_gathering"].bursts == 1 and st[t].bursts == 1 and st[t].fa_free == 3
    assert st[t].fa_upper == pytest.approx(poisson_upper(3) / 2.0)
    wrong = match(crowd, [SeenAlert("camera_tampered", 60.0, 30.0)])
    assert tally([wrong])["camera_tampered"].other_type == 1  # another type's alert on a clip is false


def test_a_scenario_through_the_real_pipeline_is_matched_in_media_time(tmp_path: object) -> None:
    """The crowd clip (12 people from 4 s) replayed by the real pipeline with a 3 s debounce: the alert's
    media time comes out right (the harness's clock origin and frame snapping). Then twice more through the
    detector cache: the first fills it (every inferred frame a miss, run by the real detector), the second
    takes every frame from it; both give the uncached run's alerts exactly."""
    vtest_path()
    s = SMOKE["crowd"]
    rule = CountInZoneRule(
        kind="count_in_zone", event_type="crowd_gathering", zone="plaza", min_count=10, min_duration=3.0
    )
    result = run_scenario(s, rules=[rule])
    db = Path(str(tmp_path)) / "dets.sqlite"
    filled = run_scenario(s, rules=[rule], cache_db=db)
    reused = run_scenario(s, rules=[rule], cache_db=db)
    assert filled.cache is not None and reused.cache is not None
    assert filled.cache[0] == 0 and filled.cache[1] > 0
    assert reused.cache == (filled.cache[1], 0)
    assert filled.alerts == result.alerts == reused.alerts
    assert result.error is None and result.frames == round(s.duration * s.fps)
    assert [a.event_type for a in result.alerts] == ["crowd_gathering"]
    alert = result.alerts[0]
    assert s.onset is not None and s.onset + 3.0 <= alert.at <= s.onset + 5.0
    assert alert.at - alert.started >= 3.0
    o = match(s, result.alerts)
    assert o.detected == alert and not o.false


def test_variants_are_functions_of_media_time_and_do_what_they_say() -> None:
    """Night, noise, shadows and the newer tampering kinds: the same picture for the same media time (a clip
    is rebuilt bit for bit from its recipe), and each changes the picture as described."""
    from bench import _variants

    vtest_path()
    base = Scenario("v", "event_free", 600.0, 1.0, "standard")
    plain = base.scene()
    for effect in [("night",), ("noise", 6.0), ("shadows", 300.0, 90.0, 0.45), ("ir_switch", 10.0, 20.0)]:
        scene = dataclasses.replace(base, effects=(effect,)).scene()
        assert np.array_equal(scene(45.0), scene(45.0)), effect
    night = dataclasses.replace(base, effects=(("night",),)).scene()
    assert night(30.0).mean() < 0.4 * plain(30.0).mean()
    shade = dataclasses.replace(base, effects=(("shadows", 300.0, 90.0, 0.45),)).scene()
    assert shade(45.0).mean() < 0.95 * plain(45.0).mean() and np.array_equal(shade(200.0), plain(200.0))
    f = plain(12.0)
    covered = _variants.partial_cover(f, 12.0, 0.8)
    same = np.abs(covered.astype(np.int16) - f.astype(np.int16)).max(axis=2) == 0
    assert 0.72 < 1.0 - same.mean() < 0.88  # about 80 % of the view under the cloth, the rest untouched
    linger = _variants.Linger(600.0, slots=3, seed=1)
    visits = linger.visits()
    assert visits and all(60 <= leave - arrive <= 180 for arrive, leave, *_ in visits)
    for t in range(0, 600, 7):
        assert sum(a <= t < b for a, b, *_ in visits) <= 3


def test_shuffled_time_lapse_shows_unrelated_moments_of_the_loop() -> None:
    """A shuffled time-lapse must not replay its short loop in slow motion: the five samples of scene_change's
    view (30 s apart at a 10-minute min_duration) come from all over the loop, not from 2.4 s of it (the
    first shuffle's Weyl step did that, and its 2-minute median held a hand that is in 4.5 s of the footage)."""
    from bench._variants import random_moment

    loop = 29.6
    assert random_moment(125.0, loop) == random_moment(125.0, loop)  # a function of media time
    spans = []
    for start in range(0, 3600, 150):
        moments = sorted(random_moment(start + 30.0 * k, loop) for k in range(5))
        spans.append(moments[-1] - moments[0])
    assert float(np.median(spans)) > 0.4 * loop
    # and every part of the loop is visited evenly at 5 s frames
    counts = np.histogram([random_moment(5.0 * k, loop) for k in range(720)], bins=6, range=(0, loop))[0]
    assert counts.min() > 0.6 * 720 / 6
