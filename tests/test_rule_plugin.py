"""Adding a rule kind: the worked example docs/architecture.md cites.

A kind is one module holding its parameter model and its rule, plus one `register_rule_kind` line. Here the
"module" is this test: a tiny `object_seen` kind (an object of `classes` in the zone, with at least
`min_score`) is registered through the registry's public function, a config using it is read from YAML by
the real loader (so `sentinel check` and `sentinel run` would accept it), the camera's rules are built and a
frame of detections is run through them. Unregistered again, the same file is refused with FILE:LINE.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from pydantic import Field

from sentinel.cli.main import main
from sentinel.config import refresh_rule_schema
from sentinel.config.loader import ConfigError, load_config
from sentinel.detect.detections import Detections
from sentinel.detect.rules import (
    FrameContext,
    Rule,
    RuleEnv,
    RuleEvent,
    RuleParams,
    SeenObject,
    build_rules,
    register_rule_kind,
    rule_kinds,
)
from sentinel.detect.rules.registry import unregister_rule_kind
from sentinel.detect.zones import ZoneArea

# ------------------------------------------------------------------ the new kind's module: params + rule


class ObjectSeenParams(RuleParams):
    """Fires on the first frame with an object of `classes` in the zone (then stays quiet for `cooldown`)."""

    kind: Literal["object_seen"]
    classes: list[str] = Field(min_length=1)
    min_score: float = Field(default=0.5, gt=0, lt=1)


class ObjectSeen:
    kind = "object_seen"
    uses_image = False  # boxes only

    def __init__(self, params: ObjectSeenParams, area: ZoneArea, env: RuleEnv) -> None:
        self.params, self.area, self.env = params, area, env
        self.event_type, self.zone = params.event_type, params.zone
        self.wanted = {i for i, name in enumerate(env.class_names) if name in params.classes}
        self.last_fired: float | None = None
        self._active = False

    @property
    def active(self) -> bool:
        return self._active

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        dets = ctx.dets
        keep = self.area.contains(dets) & (dets.score >= self.params.min_score)
        keep &= np.isin(dets.class_id, list(self.wanted))
        seen = dets[keep]
        self._active = len(seen) > 0
        quiet = self.last_fired is not None and ctx.ts - self.last_fired < self.params.cooldown
        if not self._active or quiet:
            return None
        self.last_fired = ctx.ts
        objects = [
            SeenObject(self.env.class_names[int(c)], float(s), tuple(map(float, b)))  # type: ignore[arg-type]
            for b, s, c in zip(seen.xyxy, seen.score, seen.class_id, strict=True)
        ]
        return RuleEvent(
            camera_id=ctx.camera_id,
            rule_kind=self.kind,
            event_type=self.event_type,
            zone=self.zone,
            started_at=ctx.ts,
            detected_at=ctx.ts,
            count=len(objects),
            confidence=max(o.score for o in objects),
            objects=objects,
        )


# ------------------------------------------------------------------ the test

CLASSES = ["person", "bicycle", "car"]

CONFIG = """\
event_types:
  bike_seen: {name: 单车出现, name_en: Bicycle seen, code: "LOCAL-900", severity: minor,
              rule_kind: object_seen, deadline: 1h}
cameras:
  - id: gate
    source: /dev/null
    zones:
      - name: kerb
        polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]
    rules:
      - kind: object_seen
        event_type: bike_seen
        zone: kerb
        classes: [bicycle]
        min_score: 0.4
        cooldown: 1m
"""


@pytest.fixture
def object_seen() -> Iterator[None]:
    register_rule_kind(ObjectSeenParams, ObjectSeen)
    yield
    unregister_rule_kind("object_seen")
    refresh_rule_schema()  # later tests see the shipped kinds only


def detections(*rows: tuple[float, float, float, float, float, int]) -> Detections:
    arr = np.array(rows, dtype=np.float32).reshape(-1, 6)
    return Detections(arr[:, :4].copy(), arr[:, 4].copy(), arr[:, 5].astype(np.int32))


def test_a_registered_kind_loads_builds_and_fires(object_seen: None, tmp_path: Path) -> None:
    path = tmp_path / "sentinel.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path)
    (params,) = config.cameras[0].rules
    assert isinstance(params, ObjectSeenParams)
    assert params.cooldown == 60.0  # the shared fields (and their duration parsing) come with RuleParams
    assert "object_seen" in rule_kinds()

    (rule,) = build_rules(config.cameras[0], CLASSES)
    assert isinstance(rule, ObjectSeen)
    checked: Rule = rule  # it satisfies the Rule protocol (mypy checks this line)
    assert checked.uses_image is False

    # a bicycle above the kerb zone, a car in it: nothing; then a bicycle in it: one event
    assert rule.evaluate(FrameContext("gate", 100.0, detections((0.1, 0.1, 0.2, 0.3, 0.9, 1)))) is None
    assert rule.evaluate(FrameContext("gate", 101.0, detections((0.1, 0.6, 0.3, 0.9, 0.9, 2)))) is None
    event = rule.evaluate(FrameContext("gate", 102.0, detections((0.4, 0.6, 0.5, 0.8, 0.8, 1))))
    assert event is not None
    assert (event.rule_kind, event.event_type, event.zone, event.count) == (
        "object_seen",
        "bike_seen",
        "kerb",
        1,
    )
    assert event.objects[0].label == "bicycle"
    assert rule.active
    # cooldown: the same bicycle a second later raises nothing
    assert rule.evaluate(FrameContext("gate", 103.0, detections((0.4, 0.6, 0.5, 0.8, 0.8, 1)))) is None


def test_sentinel_check_accepts_a_registered_kind(
    object_seen: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sentinel.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    code = main(["check", "--config", str(path)])
    out = capsys.readouterr()
    assert code == 0, out.err + out.out


def test_a_kind_that_is_not_registered_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    refresh_rule_schema()
    with pytest.raises(ConfigError) as err:
        load_config(path)
    line = CONFIG.splitlines().index("      - kind: object_seen") + 1
    messages = [str(i) for i in err.value.issues]
    assert any(
        m.startswith(f"{path}:{line}: cameras[0].rules[0]: unknown rule kind 'object_seen' (known: ")
        for m in messages
    ), messages
    assert "object_seen" not in rule_kinds()


def test_a_taken_kind_cannot_be_claimed_by_another_model() -> None:
    class Impostor(RuleParams):
        kind: Literal["count_in_zone"]

    with pytest.raises(ValueError, match="already registered"):
        register_rule_kind(Impostor, ObjectSeen)


class Vague:
    """A rule that forgot `uses_image` (the type checker refuses it too: it is not a `Rule`)."""

    kind = "object_seen"

    def __init__(self, params: ObjectSeenParams, area: ZoneArea, env: RuleEnv) -> None:
        self.event_type, self.zone, self.active = params.event_type, params.zone, False

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        return None


def test_a_rule_must_say_whether_it_uses_the_image(tmp_path: Path) -> None:
    register_rule_kind(ObjectSeenParams, Vague)  # type: ignore[arg-type]
    try:
        path = tmp_path / "sentinel.yaml"
        path.write_text(CONFIG, encoding="utf-8")
        with pytest.raises(TypeError, match="must set uses_image"):
            build_rules(load_config(path).cameras[0], CLASSES)
    finally:
        unregister_rule_kind("object_seen")
        refresh_rule_schema()
