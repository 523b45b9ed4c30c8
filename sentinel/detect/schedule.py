"""Rule schedules: when a rule is armed, by time of day and day of week in the site's time zone, and the
parameter profiles a camera switches by the same kind of windows.

    schedule: [{days: [mon, tue, wed, thu, fri], from: "07:00", to: "22:00"}]   # weekdays 07:00-22:00
    schedule: [{from: "22:00", to: "06:00"}]                                    # every night

A window is armed from `from` (included) to `to` (excluded), local wall-clock time, so it follows daylight
saving where the zone has it. `to` before `from` crosses midnight: the window runs into the next day, and the
day that counts for it is the day it *starts* (`days: [fri], from: "22:00", to: "06:00"` is Friday 22:00 to
Saturday 06:00). `to: "24:00"` is the end of the day. No windows (`schedule:` omitted or empty): always armed.
A moment that local time skips (a DST jump) is never "in" a window bound placed there; a repeated hour is
judged by the clock, so both passes of it count the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from sentinel.fields import Strict

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
DAY_MINUTES = 24 * 60


def minutes_of(value: str) -> int:
    """'07:30' → 450; '24:00' → 1440. ValueError naming the value otherwise."""
    m = _TIME.match(value)
    if not m:
        raise ValueError(f'not a time of day: {value!r} (write it as "HH:MM", in quotes, e.g. "07:00")')
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes != 0):
        raise ValueError(f"not a time of day: {value!r} (00:00 to 23:59, or 24:00 for the end of the day)")
    return hours * 60 + minutes


class ArmedWindow(Strict):
    """One stretch of the week: on each of `days`, from `from` to `to` (site time)."""

    days: list[str] = Field(default_factory=lambda: list(DAYS), min_length=1, description="unset: every day")
    start: str = Field(alias="from", description='"HH:MM", local time, included')
    end: str = Field(alias="to", description='"HH:MM", local time, excluded; before `from`: the next day')

    @field_validator("days", mode="before")
    @classmethod
    def _day_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]  # `days: sat` is one day
        if isinstance(value, list):
            for day in value:
                if not isinstance(day, str) or day.lower() not in DAYS:
                    raise ValueError(f"unknown day {day!r} (days: {', '.join(DAYS)})")
            return list(dict.fromkeys(d.lower() for d in value))
        return value

    @field_validator("start", "end", mode="before")
    @classmethod
    def _time_of_day(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f'not a time of day: {value!r} (write it as "HH:MM", in quotes, e.g. "07:00")')
        minutes_of(value)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> ArmedWindow:
        a, b = minutes_of(self.start), minutes_of(self.end)
        if a == b % DAY_MINUTES:
            raise ValueError(
                f"from and to are the same time ({self.start}): the window would be empty; "
                "to arm the rule all day, leave `schedule:` out"
            )
        if a == DAY_MINUTES:
            raise ValueError('from "24:00" is the end of the day; start the window at "00:00"')
        return self

    @cached_property
    def _bounds(self) -> tuple[int, int, frozenset[int]]:
        """(from, to) in minutes of the day and the weekdays, parsed once: judged on every analysed frame."""
        return minutes_of(self.start), minutes_of(self.end), frozenset(DAYS.index(d) for d in self.days)

    @property
    def crosses_midnight(self) -> bool:
        a, b, _ = self._bounds
        return b < a

    def covers(self, weekday: int, minute: float) -> bool:
        """Is local `minute` (of the day, fractional) of `weekday` (0 = Monday) inside this window?"""
        a, b, days = self._bounds
        if a < b:
            return weekday in days and a <= minute < b
        # the night that started the day before
        return (weekday in days and minute >= a) or ((weekday - 1) % 7 in days and minute < b)

    def describe(self) -> str:
        days = describe_days(self.days)
        tail = " (into the next day)" if self.crosses_midnight else ""
        return f"{days} {self.start}-{self.end}{tail}"


def describe_days(days: Sequence[str]) -> str:
    """['mon', ..., 'fri'] → 'Mon-Fri'; all seven → 'every day'; ['sat', 'mon'] → 'Mon, Sat'."""
    idx = sorted(DAYS.index(d) for d in days)
    if len(idx) == 7:
        return "every day"
    runs: list[list[int]] = []
    for i in idx:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    parts = [
        DAYS[r[0]].title() if len(r) == 1 else f"{DAYS[r[0]].title()}-{DAYS[r[-1]].title()}"
        if len(r) > 2 else f"{DAYS[r[0]].title()}, {DAYS[r[1]].title()}"
        for r in runs
    ]  # fmt: skip
    return ", ".join(parts)


def describe_schedule(windows: Sequence[ArmedWindow]) -> str:
    return "; ".join(w.describe() for w in windows) if windows else "always"


class WeekClock:
    """Turns an epoch timestamp into the site's (weekday, minute of day) and judges windows against it."""

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self._last: tuple[float, tuple[int, float]] | None = None  # one conversion per frame, not per window

    def local(self, ts: float) -> tuple[int, float]:
        if self._last is not None and self._last[0] == ts:
            return self._last[1]
        moment = datetime.fromtimestamp(ts, self.zone)
        seconds = moment.second + moment.microsecond / 1e6
        local = moment.weekday(), moment.hour * 60 + moment.minute + seconds / 60
        self._last = ts, local
        return local

    def within(self, windows: Sequence[ArmedWindow], ts: float) -> bool:
        """Armed at `ts`: no windows (always), or `ts` inside one of them."""
        if not windows:
            return True
        weekday, minute = self.local(ts)
        return any(w.covers(weekday, minute) for w in windows)


class ParamProfile(Strict):
    """A camera's parameter profile: while `schedule` holds, the named rules use these parameter values."""

    schedule: list[ArmedWindow] = Field(min_length=1, description="when the profile applies (site time)")
    rules: dict[str, dict[str, Any]] = Field(
        min_length=1, description="rule name → {parameter: value}: fields of that rule kind's parameters"
    )


# What a profile may not change: what a rule is and what it reads (those are its identity in alerts, cases
# and the pipeline's detector plan), nor its own arming.
FIXED_BY_PROFILE = frozenset({"kind", "name", "schedule", "detector", "event_type", "zone"})


def with_overrides(params: Any, values: dict[str, Any]) -> Any:
    """`params` (a rule kind's parameter model) with a profile's `values` over it, validated as the kind's
    model: what the rule's entry wrote, then the profile's fields (pydantic's ValidationError if bad)."""
    written = params.model_dump(by_alias=True, exclude_unset=True)
    return type(params).model_validate({**written, **values})
