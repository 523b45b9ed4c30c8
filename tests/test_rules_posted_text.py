"""posted_text on real footage (vtest.avi) with the real OCR model (rapidocr_onnxruntime's PP-OCRv4) and the
shipped NanoDet detector: a poster with Chinese text pasted on the facade top left at a known time, the same
poster outside the zone, a banner above the centre building's windows, and a person cut out of vtest in a
printed T-shirt walking past the facade and standing in front of it. Frames go in at 1 fps of media time.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import pytest

from sentinel.detect.detections import Detections
from sentinel.detect.rules import RuleEnv, RuleEvent
from sentinel.detect.rules.base import FrameContext
from sentinel.detect.rules.posted_text import PostedText, PostedTextParams
from sentinel.detect.settings import Zone
from sentinel.detect.text_reader import TextReader, TextReaderError
from sentinel.detect.zones import ZoneArea
from tests.support.footage import REPO_ROOT
from tests.support.scenes import T_BASE, Scene, times, vtest_detections, vtest_dets
from tests.support.scenes_text import CENTRE_BANNER, CENTRE_POSTER, FACADE_POSTER, Posted, ShirtWalker

DetsAt = Callable[[float], Detections]
FPS = 1.0
FACADE = Zone(
    name="facade", polygon=[(0.0, 0.0), (0.16, 0.0), (0.16, 0.31), (0.0, 0.31)]
)  # wall and pavement
CENTRE = Zone(name="centre-wall", polygon=[(0.42, 0.0), (0.76, 0.0), (0.76, 0.07), (0.42, 0.07)])
POSTER = Posted(("办证刻章", "快速办理"), FACADE_POSTER, t0=25.0)
BANNER = Posted(
    ("严禁乱搭乱建共建美好家园",),
    CENTRE_BANNER,
    t0=25.0,
    sheet_size=(1300, 120),
    bg=(40, 40, 200),
    fg=(0, 230, 255),
)
MIN_DURATION = 30.0
SIMILAR = 0.7  # difflib ratio: OCR may misread a character or two of a small, skewed sheet


@pytest.fixture(scope="module")
def classes() -> list[str]:
    return vtest_detections(2.0)[1]


def rule(classes: list[str], zone: Zone, **kw: object) -> PostedText:
    params: dict[str, object] = {
        "kind": "posted_text",
        "event_type": "illegal_small_ads",
        "min_duration": MIN_DURATION,
        "settle_time": 10,
        "learn_time": 600,
        "cooldown": 600,
    }
    params.update(kw)
    return PostedText(PostedTextParams.model_validate(params), ZoneArea(zone), RuleEnv("cam", classes))


def run(
    rules: list[PostedText], scene: Scene, dets: DetsAt, duration: float
) -> list[list[tuple[float, RuleEvent]]]:
    """Feed `duration` s of media at FPS to every rule; each rule's events with their media time."""
    out: list[list[tuple[float, RuleEvent]]] = [[] for _ in rules]
    for t in times(duration, FPS):
        frame, d = scene(t), dets(t)
        for i, r in enumerate(rules):
            ev = r.evaluate(FrameContext("cam", T_BASE + t, d, frame))
            if ev is not None:
                out[i].append((t, ev))
    return out


def similar(read: str, truth: str) -> float:
    return difflib.SequenceMatcher(None, read, truth).ratio()


def test_poster_on_the_wall_raises_one_alert_carrying_its_text(classes: list[str]) -> None:
    [events] = run([rule(classes, FACADE)], POSTER.scene(), vtest_dets(2.0), 100)
    assert len(events) == 1, [e.detail for _, e in events]
    t, ev = events[0]
    read = "".join(line.text for line in ev.texts)
    assert similar(read, POSTER.text) >= SIMILAR, read
    assert all(0.5 < line.score <= 1.0 for line in ev.texts)
    assert ev.event_type == "illegal_small_ads" and ev.zone == "facade" and ev.rule_kind == "posted_text"
    assert abs(ev.started_at - (T_BASE + POSTER.t0)) <= 5.0  # backdated to when it was put up
    assert POSTER.t0 + MIN_DURATION <= t <= POSTER.t0 + MIN_DURATION + 15
    [obj] = ev.objects
    x1, y1, x2, y2 = POSTER.normalised()
    assert obj.label == "text_poster"
    assert (
        obj.box[0] <= x1 + 0.02
        and obj.box[2] >= x2 - 0.02
        and obj.box[1] <= y1 + 0.02
        and obj.box[3] >= y2 - 0.02
    )


def test_poster_outside_the_zone_raises_none(classes: list[str]) -> None:
    elsewhere = Posted(POSTER.lines, CENTRE_POSTER, t0=25.0)
    r = rule(classes, FACADE)
    [events] = run([r], elsewhere.scene(), vtest_dets(2.0), 80)
    assert events == []
    assert r.ocr_runs <= 2  # nothing in the zone changed that lasted: (next to) no OCR at all


def test_banner_is_told_from_a_poster_by_its_shape(classes: list[str]) -> None:
    posters = rule(classes, CENTRE)
    banners = rule(classes, CENTRE, event_type="illegal_banner", text_shape="banner")
    poster_events, banner_events = run([posters, banners], BANNER.scene(), vtest_dets(2.0), 80)
    assert poster_events == []
    assert len(banner_events) == 1
    ev = banner_events[0][1]
    assert ev.event_type == "illegal_banner" and ev.objects[0].label == "text_banner"
    assert similar("".join(line.text for line in ev.texts), BANNER.text) >= SIMILAR


@pytest.fixture(scope="module")
def walker_dets() -> Callable[[Scene, float], DetsAt]:
    """The shipped detector run on the composited frames (the person is not where vtest had anyone)."""
    from sentinel.detect.detectors import load_nanodet

    detector = load_nanodet(REPO_ROOT / "models" / "nanodet-g-416.yaml")

    def on(scene: Scene, duration: float) -> DetsAt:
        ts = list(times(duration, FPS))
        found = dict(zip(ts, detector.detect([scene(t) for t in ts]), strict=True))
        return lambda t: found[t]

    return on


@pytest.mark.parametrize(
    "walker",
    [
        pytest.param(ShirtWalker(t0=20.0, speed=12.0), id="walking-past"),
        pytest.param(ShirtWalker(t0=20.0, speed=12.0, stand_at=28.0, stand_for=50.0), id="standing-by"),
    ],
)
def test_person_in_a_printed_t_shirt_raises_none(
    classes: list[str], walker: ShirtWalker, walker_dets: Callable[[Scene, float], DetsAt]
) -> None:
    scene = walker.scene()
    duration = 90.0
    dets = walker_dets(scene, duration)
    t_in_zone = walker.stand_at + 5 if walker.stand_for else 24.0
    # the shirt's text is readable, and the detector sees the person there: the rule could be fooled
    shirt = "".join(line.text for line in TextReader().read(scene(t_in_zone), walker.torso_box(t_in_zone)))
    assert similar(shirt, walker.text) >= SIMILAR, shirt
    assert any(label == 0 for label in dets(t_in_zone).class_id)
    masked, unmasked = rule(classes, FACADE), rule(classes, FACADE, ignore_classes=[])
    events, fooled = run([masked, unmasked], scene, dets, duration)
    assert events == [], [e.detail for _, e in events]
    if walker.stand_for:  # standing, the person settles into the background: only their boxes tell them apart
        assert [similar(e.detail or "", walker.text) > 0 for _, e in fooled] == [True]


def test_a_missing_or_broken_ocr_model_is_one_line(tmp_path: Path, classes: list[str]) -> None:
    with pytest.raises(TextReaderError) as missing:
        rule(classes, FACADE, ocr_models=str(tmp_path / "nowhere"))
    assert (
        str(missing.value) == f"OCR: model file {tmp_path / 'nowhere' / TextReader.DET_FILE} does not exist"
    )
    (tmp_path / TextReader.DET_FILE).write_bytes(b"not an onnx model")
    (tmp_path / TextReader.REC_FILE).write_bytes(b"not an onnx model")
    with pytest.raises(TextReaderError) as broken:
        rule(classes, FACADE, ocr_models=str(tmp_path))
    message = str(broken.value)
    assert (
        "\n" not in message and str(tmp_path) in message and message.startswith("OCR: cannot load the model")
    )
