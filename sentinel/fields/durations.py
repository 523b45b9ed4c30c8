"""Durations and sizes as a technician writes them: `90s`, `5m`, `2h`; `500MB`, `20GiB`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)


def parse_duration(value: Any) -> Any:
    """Accept seconds as a number, or a string like `90s`, `5m`, `2h`; anything else passes through for
    pydantic to judge (so a wrong type gets pydantic's own message)."""
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"not a duration: {value!r} (use seconds, or e.g. '30s', '5m', '2h')")
        return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    return value


def parse_size(value: Any) -> Any:
    """Accept bytes as a number, or a string like `500MB`, `20GiB`, `1.5T` (K/M/G/T are powers of 1024)."""
    if isinstance(value, str):
        m = _SIZE.match(value)
        if not m:
            raise ValueError(f"not a size: {value!r} (use bytes, or e.g. '500MB', '20GB')")
        unit = (m.group(2) or "b")[0].lower()
        return int(float(m.group(1)) * 1024 ** "bkmgt".index(unit))
    return value


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
PositiveSeconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
ByteSize = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]
