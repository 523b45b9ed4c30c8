"""The config file's schema: the parts' own settings composed into one `SentinelConfig`.

Each part below config owns its settings next to its code (storage, mqtt, ingest's stream settings in
`CameraConfig`, detect's detector and rule parameters); the sections of the parts above are in
`config.sections` and `config.cases`. The `rules:` union comes from the rule registry: `refresh_rule_schema`
takes up kinds registered after import (the loader calls it before each load).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic.fields import FieldInfo

from sentinel.config.camera import CameraConfig
from sentinel.config.cases import CasesConfig
from sentinel.config.sections import ConsoleConfig, EventTypeOverride, GridConfig, NodeConfig, SiteConfig
from sentinel.config.webhook import WebhookConfig
from sentinel.detect.rules.registry import registered, rule_kinds, rule_params_union
from sentinel.detect.settings import (
    DEFAULT_DETECTOR,
    DETECTOR_NAME,
    DetectorConfig,
    ModelSettings,
    NamedDetectorConfig,
)
from sentinel.fields import Strict
from sentinel.mqtt.settings import MqttConfig
from sentinel.mqtt.topics import Topics
from sentinel.storage.settings import DatabaseConfig, StorageConfig


class SentinelConfig(Strict):
    site: SiteConfig = SiteConfig()
    mqtt: MqttConfig = MqttConfig()
    database: DatabaseConfig = DatabaseConfig()
    node: NodeConfig = NodeConfig()
    storage: StorageConfig = StorageConfig()
    detector: DetectorConfig = DetectorConfig()
    detectors: dict[str, NamedDetectorConfig] = Field(
        default_factory=dict,
        description="named detectors besides the default one (`detector:`, named `default`); a camera or "
        "a rule chooses one with `detector: NAME`",
    )
    grid: GridConfig = GridConfig()
    cases: CasesConfig = CasesConfig()
    console: ConsoleConfig = ConsoleConfig()
    webhook: WebhookConfig | None = Field(
        default=None, description="case changes to the roster's contact through an HTTP endpoint; unset: off"
    )
    event_types: dict[str, EventTypeOverride] = Field(
        default_factory=dict, description="per-site overrides of the shipped event-type table"
    )
    workers: int = Field(default=0, ge=0, le=256, description="analysis worker processes; 0 = CPU cores")
    cameras_file: Path | None = Field(
        default=None, description="camera registry file (relative to this file)"
    )
    cameras: list[CameraConfig] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """A section whose settings are all commented out (`database:` alone) means its defaults."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (v is None and k in _SECTIONS)}
        return data

    @model_validator(mode="after")
    def _detector_names(self) -> SentinelConfig:
        for name in self.detectors:
            if name == DEFAULT_DETECTOR:
                raise ValueError(
                    "detectors: 'default' is the `detector:` section; give this one another name"
                )
            if not re.match(DETECTOR_NAME, name):
                raise ValueError(f"detectors: {name!r} is not a detector name (lower case, digits, _ and -)")
        return self

    def detector_settings(self) -> dict[str, ModelSettings]:
        """Every detector by name: `default` (the `detector:` section) and the `detectors:` entries."""
        return {DEFAULT_DETECTOR: self.detector, **self.detectors}

    def topic_prefix(self) -> str:
        """The MQTT topic prefix for this site (`sentinel.mqtt.topics` builds every topic under it)."""
        return Topics.for_site(self.mqtt.topic_prefix, self.site.id).prefix


_SECTIONS = {
    "site",
    "mqtt",
    "database",
    "node",
    "storage",
    "detector",
    "detectors",
    "grid",
    "cases",
    "console",
    "webhook",
    "event_types",
}


def _registered_models() -> tuple[type, ...]:
    return tuple(entry.params for kind in rule_kinds() if (entry := registered(kind)) is not None)


_schema_models = _registered_models()


def refresh_rule_schema() -> bool:
    """Rebuild the `rules:` union of CameraConfig (and SentinelConfig, which embeds it) if rule kinds were
    registered or removed since it was built; True when it was rebuilt. Pydantic compiles a model's schema
    once, so a kind registered later is unknown to it until this runs."""
    global _schema_models
    models = _registered_models()
    if models == _schema_models:
        return False
    rules = CameraConfig.__pydantic_fields__["rules"]
    CameraConfig.__pydantic_fields__["rules"] = FieldInfo.merge_field_infos(
        rules,
        annotation=list[rule_params_union()],  # type: ignore[misc]
    )
    CameraConfig.model_rebuild(force=True)
    SentinelConfig.model_rebuild(force=True)
    _schema_models = models
    return True
