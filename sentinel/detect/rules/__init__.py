"""Rules: small generic kinds that turn a camera's tracked detections into governance events.

Each kind is one module. `build_rules` maps a camera's rule configs to rule objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sentinel.config import CameraConfig, CountInZoneRule
from sentinel.detect.rules.base import FrameContext, Rule, RuleEvent, SeenObject
from sentinel.detect.rules.count_in_zone import CountInZone
from sentinel.detect.zones import ZoneArea

__all__ = ["FrameContext", "Rule", "RuleEvent", "SeenObject", "build_rules"]


RuleFactory = Callable[[Any, ZoneArea, list[str]], Rule]

# rule config class → constructor(config, zone area, model class names); one line per rule kind
RULE_BUILDERS: dict[type, RuleFactory] = {
    CountInZoneRule: CountInZone,
}


def build_rules(camera: CameraConfig, class_names: list[str]) -> list[Rule]:
    """The rule objects for a camera; raises ValueError for a kind that has no implementation yet."""
    zones = {z.name: z for z in camera.zones}
    rules: list[Rule] = []
    for cfg in camera.rules:
        area = ZoneArea(zones[cfg.zone] if cfg.zone else None)
        factory = RULE_BUILDERS.get(type(cfg))
        if factory is None:
            raise ValueError(f"rule kind {cfg.kind!r} is not implemented")
        rules.append(factory(cfg, area, class_names))
    return rules
