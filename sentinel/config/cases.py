"""The `cases:` section: how confirmed alerts become grid cases (joining, deadlines, escalation, camera
verification). Defined in config because `cases/` sits above it."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from sentinel.fields import PositiveSeconds, Seconds, Strict


class CasesConfig(Strict):
    """How confirmed alerts become grid cases: joining, deadlines, escalation, verification by camera."""

    enabled: bool = True
    join_radius_m: float = Field(
        default=50.0, ge=0, description="an alert this close to an open case of its type (same grid) joins it"
    )
    reminder_at: float | None = Field(
        default=0.5, gt=0, lt=1, description="remind the assignee at this fraction of a deadline; null: never"
    )
    escalation: dict[str, list[float]] = Field(
        default_factory=lambda: {
            "minor": [1.0, 1.0, 1.0, 1.0],
            "normal": [1.0, 0.5, 0.5, 0.5],
            "major": [1.0, 0.5, 0.5, 0.5],
            "urgent": [0.0, 0.0, 0.0, 1.0],  # straight to the street (and the command platform)
        },
        description="per severity, the time each level gets (grid worker, grid leader, community duty, "
        "street duty) as a fraction of the event type's deadline; 0 skips a level",
    )
    working_days: list[int] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5], description="ISO weekdays (1 = Monday)"
    )
    working_hours: list[str] = Field(
        default_factory=lambda: ["09:00-12:00", "13:30-18:00"], description="periods, site time zone"
    )
    holidays: list[str] = Field(default_factory=list, description="YYYY-MM-DD dates that are not worked")
    extra_workdays: list[str] = Field(
        default_factory=list, description="YYYY-MM-DD weekend dates that are worked (调休)"
    )
    camera_verification: bool = Field(
        default=True, description="after feedback, the camera that saw the case re-checks the place"
    )
    verify_clear_checks: int = Field(default=4, ge=1, description="N consecutive reports of 'gone'")
    verify_clear_span: Seconds = Field(default=15.0, description="... spread over at least this long")
    verify_active_checks: int = Field(default=12, ge=1, description="M consecutive reports of 'still there'")
    verify_active_span: Seconds = Field(default=60.0, description="... spread over at least this long")
    verify_timeout: PositiveSeconds = Field(
        default=3600.0, description="no verdict from the camera by then: an operator verifies"
    )
    operator_close_types: list[str] = Field(
        default_factory=list,
        description="event types an operator closes after the camera has verified them (others close at once)",
    )

    @field_validator("escalation")
    @classmethod
    def _ladder(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        for severity, factors in v.items():
            if severity not in ("minor", "normal", "major", "urgent"):
                raise ValueError(f"unknown severity {severity!r} (minor, normal, major, urgent)")
            if len(factors) != 4 or any(f < 0 for f in factors) or not any(f > 0 for f in factors):
                raise ValueError(
                    f"{severity}: give 4 factors >= 0 (grid worker, grid leader, community duty, street "
                    f"duty), at least one above 0; got {factors}"
                )
        return v

    @field_validator("working_days")
    @classmethod
    def _weekdays(cls, v: list[int]) -> list[int]:
        if not v or any(d < 1 or d > 7 for d in v):
            raise ValueError("give ISO weekdays 1 (Monday) .. 7 (Sunday), at least one")
        return v

    @field_validator("working_hours")
    @classmethod
    def _periods(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("give at least one working period, e.g. 09:00-12:00")
        previous_end = "00:00"
        for period in v:
            start, _, end = period.strip().partition("-")
            ok = all(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", t) for t in (start, end))
            if not ok or start >= end:
                raise ValueError(f"{period!r}: expected HH:MM-HH:MM with start before end, e.g. 09:00-12:00")
            if start < previous_end:
                raise ValueError(f"{period!r} overlaps or precedes the period before it (list them in order)")
            previous_end = end
        return v

    @field_validator("holidays", "extra_workdays", mode="before")
    @classmethod
    def _dates(cls, v: Any) -> Any:
        from datetime import date

        if not isinstance(v, list):
            return v
        out = []
        for item in v:  # YAML reads an unquoted 2026-10-01 as a date
            text = item.isoformat() if isinstance(item, date) else item
            try:
                date.fromisoformat(text)
            except (TypeError, ValueError):
                raise ValueError(f"{item!r} is not a date (use YYYY-MM-DD)") from None
            out.append(text)
        return out
