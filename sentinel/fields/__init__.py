"""The field types every settings model uses, at the bottom of the house so any part can own its settings.

`Strict` refuses unknown keys (a typo is an error, not a silently ignored setting) and freezes the model;
durations and sizes accept `90s` / `500MB`; `${VAR}` references keep secrets out of config files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from sentinel.fields.durations import ByteSize, PositiveSeconds, Seconds, parse_duration, parse_size
from sentinel.fields.env import ENV_REF, EnvPath, EnvString, check_env_refs, expand_env

__all__ = [
    "ENV_REF",
    "ByteSize",
    "EnvPath",
    "EnvString",
    "NamedPolygon",
    "Point",
    "PositiveSeconds",
    "Seconds",
    "Strict",
    "check_env_refs",
    "expand_env",
    "parse_duration",
    "parse_size",
]

Point = tuple[float, float]  # normalised image coordinates (x, y), 0..1, or a ground point (lon, lat)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NamedPolygon(Protocol):
    """What a picture needs to draw an area: its name and outline (a zone is one)."""

    @property
    def name(self) -> str: ...

    @property
    def polygon(self) -> Sequence[Point]: ...
