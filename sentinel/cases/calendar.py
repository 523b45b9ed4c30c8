"""Deadlines: a working-hours calendar, the escalation ladder of a grid case, and its timers.

Disposal deadlines are local rules, often counted in working hours ("4 working hours", "2 working days"). The
calendar is simple and configurable: working weekdays, daily periods (default Mon–Fri 09:00–12:00 and
13:30–18:00) in the site time zone, holidays, and make-up working days (调休).

The ladder: a case's clock runs at one level at a time — grid worker, grid leader, community duty, street duty —
each level getting a fraction of the event type's deadline (per severity, from config); when a level's deadline
passes the case climbs to the next level that has someone on the roster. Past the street, it goes to the command
platform (no further deadline). A factor of 0 skips a level: urgent types start at the street.

Timers are rows (`case_timers`): `arm` writes a case's reminder and escalation, `fire_timer` applies one that
is due. A stale timer (the case moved on) does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from sentinel.cases.models import (
    COMMAND_PLATFORM,
    LEVEL_ROLES,
    SYSTEM,
    TOP_LEVEL,
    CaseRow,
    CaseTimerRow,
)
from sentinel.cases.state_machine import CLOCK_RUNS, IN_VERIFICATION
from sentinel.cases.steps import add_timer, cancel_timers, contacts, step
from sentinel.config.models import CasesConfig

_MAX_DAYS = 3660  # a calendar without working time for ten years is a configuration error


def _offset(hhmm: str) -> timedelta:
    hours, minutes = hhmm.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes))


class WorkingCalendar:
    def __init__(
        self,
        tz: ZoneInfo | str = "Asia/Shanghai",
        working_days: Iterable[int] = (1, 2, 3, 4, 5),
        periods: Iterable[str] = ("09:00-12:00", "13:30-18:00"),
        holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
    ) -> None:
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.working_days = frozenset(working_days)
        self.periods = [tuple(_offset(t) for t in p.strip().split("-")) for p in periods]
        self.holidays = frozenset(holidays)
        self.extra_workdays = frozenset(extra_workdays)
        if not self.periods or not (self.working_days or self.extra_workdays):
            raise ValueError("a working calendar needs at least one working day and one period")

    @classmethod
    def from_config(cls, config: CasesConfig, tz: ZoneInfo | str) -> WorkingCalendar:
        return cls(
            tz,
            config.working_days,
            config.working_hours,
            [date.fromisoformat(d) for d in config.holidays],
            [date.fromisoformat(d) for d in config.extra_workdays],
        )

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        return day.isoweekday() in self.working_days and day not in self.holidays

    def periods_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's working periods as UTC instants (empty on a day off)."""
        if not self.is_working_day(day):
            return []
        midnight = datetime.combine(day, time(0))
        return [
            (
                (midnight + a).replace(tzinfo=self.tz).astimezone(UTC),
                (midnight + b).replace(tzinfo=self.tz).astimezone(UTC),
            )
            for a, b in self.periods
        ]

    def add_working_time(self, start: datetime, seconds: float) -> datetime:
        """The instant `seconds` of working time after `start` (in `start`'s time zone).

        Starting outside working hours, the count begins when work next begins."""
        if start.tzinfo is None:
            raise ValueError("start must carry a time zone")
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        remaining = float(seconds)
        cur = start.astimezone(UTC)
        day = start.astimezone(self.tz).date()
        for _ in range(_MAX_DAYS):
            for a, b in self.periods_on(day):
                if b <= cur:
                    continue
                begin = max(a, cur)
                span = (b - begin).total_seconds()
                if remaining <= span:
                    return (begin + timedelta(seconds=remaining)).astimezone(start.tzinfo)
                remaining -= span
            day += timedelta(days=1)
        raise ValueError("the working calendar has no working time in the next ten years")

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end) (0 when end is not after start)."""
        a0, b0 = start.astimezone(UTC), end.astimezone(UTC)
        if b0 <= a0:
            return 0.0
        total = 0.0
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while day <= last:
            for a, b in self.periods_on(day):
                lo, hi = max(a, a0), min(b, b0)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total


DEFAULT_CALENDAR = WorkingCalendar()


def add_working_time(start: datetime, seconds: float, calendar: WorkingCalendar | None = None) -> datetime:
    """`seconds` of working time after `start` on `calendar` (default: Mon–Fri 09:00–12:00, 13:30–18:00
    Asia/Shanghai)."""
    return (calendar or DEFAULT_CALENDAR).add_working_time(start, seconds)


class DeadlinePolicy:
    """Deadlines and escalation levels for cases, from `CasesConfig` and a calendar."""

    def __init__(self, config: CasesConfig, calendar: WorkingCalendar) -> None:
        self.config = config
        self.calendar = calendar
        self._defaults = CasesConfig().escalation

    def factors(self, severity: str) -> list[float]:
        ladder = self.config.escalation.get(severity) or self._defaults.get(severity)
        return list(ladder or self._defaults["normal"])

    def window(self, base_seconds: float, severity: str, level: int) -> float | None:
        """Seconds the given level has (None at the command platform: no deadline)."""
        if level >= TOP_LEVEL:
            return None
        return base_seconds * self.factors(severity)[level]

    def first_level(self, severity: str, contacts: Sequence[str | None]) -> int:
        return self.next_level(severity, contacts, -1)

    def next_level(self, severity: str, contacts: Sequence[str | None], level: int) -> int:
        """The next level above `level` that has time and someone on the roster; else the command platform."""
        factors = self.factors(severity)
        for candidate in range(level + 1, TOP_LEVEL):
            if factors[candidate] > 0 and candidate < len(contacts) and contacts[candidate]:
                return candidate
        return TOP_LEVEL

    def add(self, start: datetime, seconds: float, working_hours: bool) -> datetime:
        if working_hours:
            return self.calendar.add_working_time(start, seconds)
        return start + timedelta(seconds=seconds)

    def between(self, start: datetime, end: datetime, working_hours: bool) -> float:
        if working_hours:
            return self.calendar.working_seconds_between(start, end)
        return max(0.0, (end - start).total_seconds())

    def reminder_at(
        self, now: datetime, remaining: float, window: float, working_hours: bool
    ) -> datetime | None:
        """When to remind, given `remaining` seconds of a `window`; None if that moment has passed."""
        if self.config.reminder_at is None:
            return None
        after_reminder = (1.0 - self.config.reminder_at) * window
        if remaining <= after_reminder:
            return None
        return self.add(now, remaining - after_reminder, working_hours)


# ---------------------------------------------------------------- a case's clock and its timers


def arm(
    s: Session, policy: DeadlinePolicy, case: CaseRow, start: datetime, remaining: float, window: float
) -> None:
    """Start the clock: `remaining` seconds of a `window` from `start`; escalate at the end, remind on the way."""
    cancel_timers(s, case, ("reminder", "escalate"))
    case.window_s = window
    case.deadline_at = policy.add(start, remaining, case.working_hours)
    add_timer(s, case, "escalate", case.escalation_level, case.deadline_at, start)
    if case.reminded_at is None:
        remind = policy.reminder_at(start, remaining, window, case.working_hours)
        if remind is not None:
            add_timer(s, case, "reminder", case.escalation_level, remind, start)


def enter_level(s: Session, policy: DeadlinePolicy, case: CaseRow, start: datetime, level: int) -> None:
    """Hand the case to `level` of the ladder with that level's full time (none at the command platform)."""
    case.escalation_level = level
    case.assignee = COMMAND_PLATFORM if level >= TOP_LEVEL else contacts(case)[level]
    case.reminded_at = None
    window = policy.window(case.base_deadline_s, case.severity, level)
    if window is None:
        case.command_platform = True
        case.deadline_at = case.window_s = None
        cancel_timers(s, case, ("reminder", "escalate"))
    else:
        arm(s, policy, case, start, window, window)


def rearm(
    s: Session, policy: DeadlinePolicy, case: CaseRow, now: datetime, remaining: float, window: float
) -> None:
    """Restart the clock with `remaining` seconds left (an extension, a resumption); the disposal deadline
    (`due_at`) moves by as much as the deadline does."""
    old = case.deadline_at
    arm(s, policy, case, now, remaining, window)
    if old is not None and case.due_at is not None and case.deadline_at is not None:
        case.due_at += case.deadline_at - old


def stop_clock(s: Session, policy: DeadlinePolicy, case: CaseRow, now: datetime) -> None:
    """Suspend: remember what the clock had left and drop the timers; `resume_state` says where to go back."""
    case.resume_state, case.suspended_at = case.state, now
    if case.state in CLOCK_RUNS and case.deadline_at is not None:
        case.remaining_s = policy.between(now, case.deadline_at, case.working_hours)
    cancel_timers(s, case)


def restart_clock(s: Session, policy: DeadlinePolicy, case: CaseRow, now: datetime) -> None:
    """Resume: the clock goes on with what it had left. The disposal deadline moves by the time it stood
    still, unless the case was already late when it was suspended (a late case stays late)."""
    was_late = case.due_at is not None and case.suspended_at is not None and case.due_at <= case.suspended_at
    due = case.due_at
    if case.resume_state in CLOCK_RUNS and case.remaining_s is not None:
        rearm(s, policy, case, now, case.remaining_s, case.window_s or case.remaining_s)
    if was_late:
        case.due_at = due
    case.resume_state, case.remaining_s, case.suspended_at = None, None, None


def due_timers(s: Session, now: datetime, limit: int = 200) -> list[int]:
    """Ids of the timers due at `now`, oldest first."""
    q = select(CaseTimerRow.id).where(CaseTimerRow.done.is_(False), CaseTimerRow.due_at <= now)
    return list(s.scalars(q.order_by(CaseTimerRow.due_at, CaseTimerRow.id).limit(limit)))


def fire_timer(
    s: Session, policy: DeadlinePolicy, case: CaseRow, timer: CaseTimerRow, now: datetime, tz: ZoneInfo
) -> str | None:
    """Apply a due timer to its case; returns the action it logged, or None for a stale timer.

    An escalation counts the next level's time from the deadline that passed (not from `now`), so a daemon
    that was down catches up level by level as if it had run throughout."""
    state, at = case.state, timer.due_at
    running = state in CLOCK_RUNS and timer.level == case.escalation_level
    holder = f"{LEVEL_ROLES[case.escalation_level]} {case.assignee}"
    if timer.kind == "reminder" and running and case.reminded_at is None:
        if case.deadline_at is None or case.deadline_at <= now:
            return None  # the deadline itself has passed: the escalation speaks for it
        case.reminded_at = at
        due = case.deadline_at.astimezone(tz).isoformat(timespec="minutes")
        step(s, case, now, "remind", SYSTEM, state, f"reminder to {holder}: due {due}")
        return "remind"
    if timer.kind == "escalate" and running and case.deadline_at == at:
        level = policy.next_level(case.severity, contacts(case), case.escalation_level)
        case.overdue = True
        case.escalation_count += 1
        enter_level(s, policy, case, at, level)
        to = "the command platform" if level >= TOP_LEVEL else f"{LEVEL_ROLES[level]} {case.assignee}"
        step(s, case, now, "escalate", SYSTEM, state, f"overdue at {holder}: escalated to {to}")
        return "escalate"
    current = state in IN_VERIFICATION and timer.level == case.verify_round
    if timer.kind == "verify_timeout" and current and case.verify_result is None:
        case.verify_result = "timeout"
        minutes = round((timer.due_at - (case.verify_started_at or timer.due_at)).total_seconds() / 60)
        note = f"camera {case.camera_id} gave no verdict in {minutes} min: an operator closes or reworks"
        step(s, case, now, "verify_timeout", SYSTEM, state, note)
        return "verify_timeout"
    return None
