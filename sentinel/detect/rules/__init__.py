"""Rules: small generic kinds that turn a camera's tracked detections into governance events.

Each kind is one module holding its parameter model and its rule; `registry` lists them once, and the
config's `rules:` schema, `rule_kinds()` and `build_rules` come from there.
"""

from __future__ import annotations

from sentinel.detect.rules.base import FrameContext, Rule, RuleEnv, RuleEvent, RuleParams, SeenObject
from sentinel.detect.rules.registry import (
    RuleFactory,
    RuleKind,
    build_rules,
    camera_detectors,
    register_rule_kind,
    rule_detector,
    rule_kinds,
    rule_params_union,
)

__all__ = [
    "FrameContext",
    "Rule",
    "RuleEnv",
    "RuleEvent",
    "RuleFactory",
    "RuleKind",
    "RuleParams",
    "SeenObject",
    "build_rules",
    "camera_detectors",
    "register_rule_kind",
    "rule_detector",
    "rule_kinds",
    "rule_params_union",
]
