"""Extensions (延期): asked for by the level holding a case, granted by the level above (see authority.py).

A request is kept on the case (`extension_request_s`, `extension_requested_by`) and announced as the step
`extend_request`; the deadline does not move until someone above grants it with `extend` (as asked, or with
their own `extend_by`) or drops it with `deny_extension`. A granted extension moves the current deadline but
never the disposal deadline (`due_at`) that on-time closure is measured by: time granted late does not make
a late case on time (docs/kpis.md).
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy.orm import Session

from sentinel.cases import calendar as deadlines
from sentinel.cases import steps as rows
from sentinel.cases.models import CaseRow
from sentinel.cases.state_machine import MAX_EXTEND_S, BadRequest, State


def seconds_of(case: CaseRow, extend_by: float | None) -> float:
    """How much an extension adds (the event type's deadline when not said), or BadRequest."""
    seconds = case.base_deadline_s if extend_by is None else float(extend_by)
    if not math.isfinite(seconds) or seconds <= 0:
        raise BadRequest(f"extend_by must be a positive number of seconds, got {extend_by!r}")
    if seconds > MAX_EXTEND_S:
        raise BadRequest(f"extend_by is more than {MAX_EXTEND_S} seconds (365 days), got {extend_by!r}")
    if case.deadline_at is None:
        raise BadRequest(f"case {case.number} has no running deadline to extend")
    return seconds


def request(
    s: Session, case: CaseRow, now: datetime, actor: str, note: str | None, extend_by: float | None
) -> None:
    seconds = seconds_of(case, extend_by)
    case.extension_request_s, case.extension_requested_by = seconds, actor
    asked = note or f"asks for {seconds / 3600:.3g} h more"
    rows.step(s, case, now, "extend_request", actor, case.state, asked)


def grant(
    s: Session, policy: deadlines.DeadlinePolicy, case: CaseRow, now: datetime, actor: str, note: str | None,
    extend_by: float | None,
) -> None:  # fmt: skip
    if extend_by is None and case.extension_request_s is not None:
        extend_by = case.extension_request_s  # approving the pending request as asked
        if note is None and case.extension_requested_by:
            note = f"approves {case.extension_requested_by}'s request"
    seconds = seconds_of(case, extend_by)
    assert case.deadline_at is not None  # seconds_of checked it
    remaining = policy.between(now, case.deadline_at, case.working_hours) + seconds
    case.reminded_at = None
    due = case.due_at
    deadlines.rearm(s, policy, case, now, remaining, remaining)
    case.due_at = due
    case.extension_count += 1
    case.extension_request_s = case.extension_requested_by = None
    rows.step(s, case, now, "extend", actor, State.extended, note)


def deny(s: Session, case: CaseRow, now: datetime, actor: str, note: str | None) -> None:
    if case.extension_request_s is None:
        raise BadRequest(f"case {case.number} has no extension request to deny")
    asked_by = case.extension_requested_by
    case.extension_request_s = case.extension_requested_by = None
    rows.step(s, case, now, "deny_extension", actor, case.state, note or f"{asked_by}'s request denied")
