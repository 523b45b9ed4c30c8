"""Every public name of the config schema, where the parts' modules used to find them.

The models now live with their owners: field types in `sentinel.fields`; `MqttConfig` in
`sentinel.mqtt.settings`; `DatabaseConfig`/`StorageConfig` in `sentinel.storage.settings`; the stream half of
a camera in `sentinel.ingest.settings`; detector, motion gate and zones in `sentinel.detect.settings`; each
rule kind's parameters in its module under `sentinel.detect.rules`; the composed schema in
`sentinel.config.schema`. New code should import from the owner; this module keeps older imports working.
"""

from __future__ import annotations

from sentinel.config.camera import CameraConfig, ControlPoint, Location
from sentinel.config.cases import CasesConfig
from sentinel.config.schema import SentinelConfig, refresh_rule_schema
from sentinel.config.sections import ConsoleConfig, EventTypeOverride, GridConfig, NodeConfig, SiteConfig
from sentinel.detect.rules.base import RuleParams
from sentinel.detect.rules.camera_health import ALL_HEALTH_CHECKS, CameraHealthParams, HealthCheck
from sentinel.detect.rules.count_in_zone import CountInZoneParams
from sentinel.detect.rules.dwell import DwellParams
from sentinel.detect.rules.line_crossing import LineCrossingParams
from sentinel.detect.rules.scene_change import SceneChangeParams
from sentinel.detect.rules.static_object import StaticObjectParams
from sentinel.detect.settings import (
    DEFAULT_DETECTOR,
    DEFAULT_MODEL_CARD,
    DetectorConfig,
    ModelSettings,
    MotionGateConfig,
    NamedDetectorConfig,
    Zone,
)
from sentinel.fields import (
    ENV_REF,
    EnvPath,
    EnvString,
    Point,
    PositiveSeconds,
    Seconds,
    Strict,
    expand_env,
    parse_duration,
)
from sentinel.ingest.settings import DecodeMode, StreamSettings
from sentinel.mqtt.settings import MqttConfig
from sentinel.storage.settings import DatabaseConfig, StorageConfig

# the parameter models' former names
RuleBase = RuleParams
CountInZoneRule = CountInZoneParams
DwellRule = DwellParams
LineCrossingRule = LineCrossingParams
StaticObjectRule = StaticObjectParams
SceneChangeRule = SceneChangeParams
CameraHealthRule = CameraHealthParams

__all__ = [
    "ALL_HEALTH_CHECKS",
    "DEFAULT_MODEL_CARD",
    "ENV_REF",
    "CameraConfig",
    "CameraHealthParams",
    "CameraHealthRule",
    "CasesConfig",
    "ConsoleConfig",
    "ControlPoint",
    "CountInZoneParams",
    "CountInZoneRule",
    "DatabaseConfig",
    "DecodeMode",
    "DEFAULT_DETECTOR",
    "DetectorConfig",
    "ModelSettings",
    "NamedDetectorConfig",
    "DwellParams",
    "DwellRule",
    "EnvPath",
    "EnvString",
    "EventTypeOverride",
    "GridConfig",
    "HealthCheck",
    "LineCrossingParams",
    "LineCrossingRule",
    "Location",
    "MotionGateConfig",
    "MqttConfig",
    "NodeConfig",
    "Point",
    "PositiveSeconds",
    "RuleBase",
    "RuleParams",
    "SceneChangeParams",
    "SceneChangeRule",
    "Seconds",
    "SentinelConfig",
    "SiteConfig",
    "StaticObjectParams",
    "StaticObjectRule",
    "StorageConfig",
    "StreamSettings",
    "Strict",
    "Zone",
    "expand_env",
    "parse_duration",
    "refresh_rule_schema",
]
