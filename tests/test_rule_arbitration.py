"""Cross-rule arbitration on the one analysis path (`CameraPipeline`): while camera_health holds the camera
tampered, or the reader says it is offline, the image rules pause and learn nothing -- so a covered or turned
view raises camera_tampered and never garbage_exposed or illegal_construction. Real footage (vtest), the real
detector (NanoDet), every rule a site runs (bench.scenarios.standard_camera) at its defaults, except the two
image rules' min_duration, shortened from 300 s / 30 min to 60 s so that a run lasts two minutes: the
shortening only makes a false alert come sooner, it cannot hide one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bench.scenarios import standard_camera
from sentinel.config.models import CameraConfig
from sentinel.detect.detections import Detections
from sentinel.detect.detectors import Detector, load_nanodet
from sentinel.detect.rules import FrameContext, RuleEvent
from sentinel.detect.settings import DetectorConfig
from sentinel.ingest.reader import CameraState, Frame, ReaderStatus
from sentinel.pipeline import CameraPipeline
from tests.support.footage import REPO_ROOT, vtest_path
from tests.support.scenes import T_BASE, Scene, times, vtest
from tests.support.scenes_tamper import partial_cover, turned

FAULT_AT = 30.0
IMAGE_EVENTS = {"garbage_exposed", "illegal_construction"}


def site_camera(with_health: bool = True) -> CameraConfig:
    cam = standard_camera("cam")
    rules = [
        r.model_copy(update={"min_duration": 60.0}) if r.kind in ("static_object", "scene_change") else r
        for r in cam.rules
        if with_health or r.kind != "camera_health"
    ]
    return cam.model_copy(update={"rules": rules})


@pytest.fixture(scope="module")
def detector() -> Detector:
    return load_nanodet(REPO_ROOT / "models" / "nanodet-g-416.yaml", intra_op_threads=1)


def alerts_of(
    pipes: dict[str, CameraPipeline], detector: Detector, scene: Scene, duration: float
) -> dict[str, list[str]]:
    """Each pipeline's alerts (event types) over `scene` at 1 fps, all fed the same real detections."""
    raised: dict[str, list[str]] = {name: [] for name in pipes}
    first = next(iter(pipes.values()))
    for seq, t in enumerate(times(duration, 1.0)):
        frame = Frame("cam", scene(t), T_BASE + t, True, seq)
        dets = detector.detect([first.detector_input(frame)])[0]
        for name, pipe in pipes.items():
            raised[name] += [a.event.event_type for a in pipe.analyse(frame, dets).alerts]
    return raised


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(lambda s: partial_cover(s, FAULT_AT, 0.8), id="cloth-over-80pc"),
        pytest.param(lambda s: turned(s, FAULT_AT), id="turned-away"),
    ],
)
def test_a_tampered_view_is_tampering_not_dumping_or_construction(
    tmp_path: Path, detector: Detector, fault: Callable[[Scene], Scene]
) -> None:
    vtest_path()  # skips without the footage
    settings, classes = DetectorConfig(), detector.class_names  # production analysis width and gate
    pipes = {
        "site": CameraPipeline.for_camera(site_camera(), settings, classes, tmp_path / "site"),
        # the same camera without camera_health: nothing pauses the image rules (the hazard, shown)
        "unguarded": CameraPipeline.for_camera(site_camera(False), settings, classes, tmp_path / "unguarded"),
    }
    raised = alerts_of(pipes, detector, fault(vtest(1.0)), 105.0)
    assert raised["site"] == ["camera_tampered"], raised
    assert IMAGE_EVENTS & set(raised["unguarded"]), raised  # would have been a false case


def status(state: CameraState) -> ReaderStatus:
    return ReaderStatus("cam", state, T_BASE, 1.0, None, None, "all", 0, 0, 0)


class Counting:
    """A rule that counts the frames it is shown (an image rule unless `uses_image` is False)."""

    kind: str = "probe"
    event_type: str = "probe"
    zone: str | None = None
    active: bool = False

    def __init__(self, uses_image: bool = True) -> None:
        self.uses_image = uses_image
        self.seen = 0

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        self.seen += 1
        return None


def test_offline_pauses_image_rules_but_not_box_rules() -> None:
    image_rule, box_rule = Counting(), Counting(uses_image=False)
    cam = CameraConfig.model_validate({"id": "cam", "source": "x.mp4"})
    pipe = CameraPipeline(cam, [image_rule, box_rule])
    picture = np.zeros((48, 64, 3), np.uint8)
    for seq, state in enumerate([CameraState.online, CameraState.offline, CameraState.online]):
        pipe.note_status(status(state))
        pipe.analyse(Frame("cam", picture, T_BASE + seq, True, seq), Detections.empty())
    assert (image_rule.seen, box_rule.seen) == (2, 3)


def test_a_replaced_reference_view_rebuilds_the_image_rules() -> None:
    class Guard(Counting):
        kind = "camera_health"

        def __init__(self) -> None:
            super().__init__()
            self.reference = type("Ref", (), {"version": 1})()

    guard, image_rule = Guard(), Counting()
    fresh = Counting()
    cam = CameraConfig.model_validate({"id": "cam", "source": "x.mp4"})
    pipe = CameraPipeline(cam, [image_rule, guard], rebuild_rule=lambda i: fresh)
    picture = np.zeros((48, 64, 3), np.uint8)
    pipe.analyse(Frame("cam", picture, T_BASE, True, 0), Detections.empty())
    assert pipe.rules[0] is image_rule and image_rule.seen == 1
    guard.reference.version = 2  # the operator accepted a new view
    pipe.analyse(Frame("cam", picture, T_BASE + 1, True, 1), Detections.empty())
    assert pipe.rules[0] is fresh and (image_rule.seen, fresh.seen) == (1, 1)
