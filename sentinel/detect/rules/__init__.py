"""Rules: small generic kinds that turn a camera's tracked detections into governance events.

Each kind is one module. `build_rules` maps a camera's rule configs to rule objects.
"""

from __future__ import annotations

from sentinel.config import CameraConfig, CountInZoneRule
from sentinel.detect.rules.base import Rule, RuleEvent, SeenObject
from sentinel.detect.rules.count_in_zone import CountInZone
from sentinel.detect.zones import ZoneArea

__all__ = ["Rule", "RuleEvent", "SeenObject", "build_rules"]


def build_rules(camera: CameraConfig, class_names: list[str]) -> list[Rule]:
    zones = {z.name: z for z in camera.zones}
    rules: list[Rule] = []
    for cfg in camera.rules:
        area = ZoneArea(zones[cfg.zone] if cfg.zone else None)
        if isinstance(cfg, CountInZoneRule):
            rules.append(CountInZone(cfg, area, class_names))
    return rules
