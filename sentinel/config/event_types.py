"""The event-type table: which governance category a rule raises, with its code, name, severity, deadline.

It is data (`sentinel/data/event_types.yaml`), not code; a site may add or override entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from importlib import resources
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from ruamel.yaml import YAML

from sentinel.fields import parse_duration


class Severity(StrEnum):
    minor = "minor"
    normal = "normal"
    major = "major"
    urgent = "urgent"  # straight to the street and the command platform


class EventType(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = Field(description="Chinese name as used on the grid platform")
    name_en: str
    code: str
    severity: Severity
    rule_kind: str
    deadline: Annotated[float, BeforeValidator(parse_duration)] = Field(description="seconds")
    working_hours: bool = False
    auto_register: bool = Field(default=False, description="file a case without an operator's confirmation")


def default_event_types() -> dict[str, EventType]:
    text = resources.files("sentinel.data").joinpath("event_types.yaml").read_text(encoding="utf-8")
    raw = YAML(typ="safe").load(text)["event_types"]
    return {key: EventType(id=key, **value) for key, value in raw.items()}


def effective_event_types(overrides: Mapping[str, BaseModel]) -> dict[str, EventType]:
    """The shipped table with a site's overrides applied (a new id adds a type; it must then be complete)."""
    table = default_event_types()
    for key, override in overrides.items():
        changes = override.model_dump(exclude_none=True)
        if key in table:
            table[key] = EventType.model_validate({**table[key].model_dump(), **changes})  # re-validated
        else:
            table[key] = EventType(id=key, **changes)
    return table
