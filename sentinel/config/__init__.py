"""Typed configuration (pydantic, unknown keys refused) and the YAML loader with FILE:LINE errors.

`config` composes the settings each part owns (`sentinel.<part>.settings`, the rule kinds' parameters) into
the config file's schema (`schema.SentinelConfig`), and defines the sections of the parts above it.
"""

from __future__ import annotations

from sentinel.config.camera import CameraConfig
from sentinel.config.schema import SentinelConfig, refresh_rule_schema

__all__ = ["CameraConfig", "SentinelConfig", "refresh_rule_schema"]
