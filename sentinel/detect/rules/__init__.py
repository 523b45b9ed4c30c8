"""Rules: small generic kinds that turn a camera's tracked detections into governance events.

Each kind is one module. `build_rules` maps a camera's rule configs to rule objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinel.config.models import (
    CameraConfig,
    CameraHealthRule,
    CountInZoneRule,
    DwellRule,
    LineCrossingRule,
    SceneChangeRule,
    StaticObjectRule,
)
from sentinel.detect.rules.base import FrameContext, Rule, RuleEvent, SeenObject
from sentinel.detect.rules.camera_health import CameraHealth
from sentinel.detect.rules.count_in_zone import CountInZone
from sentinel.detect.rules.dwell import Dwell
from sentinel.detect.rules.line_crossing import LineCrossing
from sentinel.detect.rules.scene_change import SceneChange
from sentinel.detect.rules.static_object import StaticObject
from sentinel.detect.zones import ZoneArea

__all__ = ["RULE_BUILDERS", "FrameContext", "Rule", "RuleEnv", "RuleEvent", "SeenObject", "build_rules"]


@dataclass(frozen=True)
class RuleEnv:
    """What a rule may need besides its own config."""

    camera_id: str
    class_names: list[str]  # the detector's classes, index = class id
    state_dir: Path | None = (
        None  # per-camera folder for lasting state (e.g. a reference view); None: memory only
    )


RuleFactory = Callable[[Any, ZoneArea, RuleEnv], Rule]

# rule config class → constructor(config, zone area, env); one line per rule kind
RULE_BUILDERS: dict[type, RuleFactory] = {
    CountInZoneRule: CountInZone,
    DwellRule: Dwell,
    LineCrossingRule: LineCrossing,
    StaticObjectRule: StaticObject,
    SceneChangeRule: SceneChange,
    CameraHealthRule: CameraHealth,
}


def build_rules(camera: CameraConfig, class_names: list[str], state_dir: Path | None = None) -> list[Rule]:
    """The rule objects for a camera; raises ValueError for a kind that has no implementation yet."""
    env = RuleEnv(camera.id, class_names, state_dir)
    zones = {z.name: z for z in camera.zones}
    rules: list[Rule] = []
    for cfg in camera.rules:
        area = ZoneArea(zones[cfg.zone] if cfg.zone else None)
        factory = RULE_BUILDERS.get(type(cfg))
        if factory is None:
            raise ValueError(f"rule kind {cfg.kind!r} is not implemented")
        rules.append(factory(cfg, area, env))
    return rules
