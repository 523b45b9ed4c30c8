"""The row-level steps every case change is made of: find a case, log a transition, attach or move alerts,
arm and cancel timers, open and close a case, count a camera's verification reports. The engine
(`sentinel.cases.engine`) composes them into one transaction per change."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sentinel.alerts.models import AlertRow
from sentinel.alerts.schema import Alert
from sentinel.cases.models import (
    CONTACT_FIELDS,
    OPEN_STATES,
    CaseAlertRow,
    CaseRow,
    CaseTimerRow,
    CaseTransitionRow,
)
from sentinel.config.event_types import EventType
from sentinel.config.models import CasesConfig

MAX_NUMBER = 2**31 - 1  # case numbers are an INTEGER column


def find_case(s: Session, ref: str, lock: bool = False) -> CaseRow | None:
    """A case by id, or by its number ("17")."""
    if ref.isascii() and ref.isdigit():
        if int(ref) > MAX_NUMBER:
            return None  # no case has it, and the database could not compare it
        where = CaseRow.number == int(ref)
    else:
        where = CaseRow.id == ref
    q = select(CaseRow).where(where)
    return s.scalars(q.with_for_update() if lock else q).first()


def feedback_by(s: Session, case: CaseRow) -> str | None:
    """Who last reported the case done (nobody verifies their own work)."""
    q = select(CaseTransitionRow.actor).where(
        CaseTransitionRow.case_id == case.id, CaseTransitionRow.action == "feedback"
    )
    return s.scalar(q.order_by(CaseTransitionRow.id.desc()).limit(1))


def contacts(case: CaseRow) -> list[str | None]:
    return [getattr(case, f) for f in CONTACT_FIELDS]


def step(
    s: Session, case: CaseRow, now: datetime, action: str, actor: str, to_state: str, note: str | None,
    from_state: str | None | bool = True,
) -> None:  # fmt: skip
    """Move the case to `to_state` and log it (who, when, from, to, note); from_state=None: a new case."""
    before = case.state if from_state is True else from_state
    case.state, case.updated_at, case.note = str(to_state), now, note
    s.add(
        CaseTransitionRow(
            case_id=case.id, ts=now, actor=actor, action=action, from_state=before, to_state=str(to_state),
            assignee=case.assignee, level=case.escalation_level, note=note,
        )
    )  # fmt: skip


def attach_alert(s: Session, case: CaseRow, alert_id: str, now: datetime, detected: datetime) -> None:
    s.add(CaseAlertRow(case_id=case.id, alert_id=alert_id, joined_at=now))
    s.execute(update(AlertRow).where(AlertRow.id == alert_id).values(case_id=case.id))
    case.alert_count += 1
    case.first_alert_at = min(case.first_alert_at or detected, detected)
    case.last_alert_at = max(case.last_alert_at or detected, detected)


def move_alerts(s: Session, source: CaseRow, target: CaseRow, now: datetime) -> int:
    """Re-file `source`'s alerts under `target` (a merge); returns how many moved."""
    ids = list(s.scalars(select(CaseAlertRow.alert_id).where(CaseAlertRow.case_id == source.id)))
    for alert_id in ids:
        row = s.get(AlertRow, alert_id)
        if s.get(CaseAlertRow, (target.id, alert_id)) is None:
            # the payload keeps the offset (SQLite drops it from alerts.detected_at)
            detected = datetime.fromisoformat(row.payload["detected_at"]) if row else now
            attach_alert(s, target, alert_id, now, detected)
    return len(ids)


def sync_alert_review(s: Session, case: CaseRow) -> None:
    """Alerts of a case past review count as confirmed; of a rejected case, as rejected."""
    if case.state == "pending_review":
        return
    verdict = "rejected" if case.state == "rejected" else "confirmed"
    joined = select(CaseAlertRow.alert_id).where(CaseAlertRow.case_id == case.id)
    s.execute(
        update(AlertRow)
        .where(AlertRow.id.in_(joined), AlertRow.review_state == "new")
        .values(review_state=verdict)
        .execution_options(synchronize_session=False)
    )


def cancel_timers(
    s: Session, case: CaseRow, kinds: tuple[str, ...] = ("reminder", "escalate", "verify_timeout")
) -> None:
    s.execute(
        update(CaseTimerRow)
        .where(CaseTimerRow.case_id == case.id, CaseTimerRow.done.is_(False), CaseTimerRow.kind.in_(kinds))
        .values(done=True)
        .execution_options(synchronize_session=False)
    )


def add_timer(s: Session, case: CaseRow, kind: str, level: int, due: datetime, now: datetime) -> None:
    s.add(CaseTimerRow(case_id=case.id, kind=kind, level=level, due_at=due, done=False, created_at=now))


def close(s: Session, case: CaseRow, now: datetime, actor: str, note: str | None) -> None:
    cancel_timers(s, case)
    case.closed_at = now
    step(s, case, now, "close", actor, "closed", note)


def new_case(
    s: Session, event_type: EventType, alert: Alert, routing: Any, grid: str | None, now: datetime
) -> CaseRow:
    """A new case for `alert` (state pending_review until the first step says otherwise), added to `s`."""
    place = alert.grid
    case = CaseRow(
        id=str(uuid.uuid4()),
        number=(s.scalar(select(func.max(CaseRow.number))) or 0) + 1,
        event_type=event_type.id, code=event_type.code, name=event_type.name,
        severity=alert.severity, state="pending_review",
        grid_code=grid,
        community_code=routing.community_code or (place.community if place else None),
        street_code=routing.street_code or (place.street if place else None),
        camera_id=alert.camera_id, zone=alert.zone,
        lon=alert.location.lon if alert.location else None,
        lat=alert.location.lat if alert.location else None,
        worker_id=routing.worker_id, grid_leader_id=routing.grid_leader_id,
        community_duty_id=routing.community_duty_id, street_duty_id=routing.street_duty_id,
        escalation_level=0, overdue=False, command_platform=False,
        base_deadline_s=event_type.deadline, working_hours=event_type.working_hours,
        created_at=now, updated_at=now,
        alert_count=0, rework_count=0, extension_count=0, escalation_count=0,
        verify_round=0, verify_clear_count=0, verify_active_count=0,
    )  # fmt: skip
    s.add(case)
    s.flush()
    return case


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine), good to well under a metre at grid scale."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def open_case_at(
    s: Session, event_type: str, camera_id: str, zone: str | None, grid: str | None,
    point: tuple[float, float] | None, radius_m: float,
) -> CaseRow | None:  # fmt: skip
    """The open case of this type at this place: same camera and zone, else the nearest case seen by another
    camera within `radius_m` in the same grid cell (a camera's own zones are different places to it, and the
    position of an alert without homography is the camera's own)."""
    q = select(CaseRow).where(CaseRow.event_type == event_type, CaseRow.state.in_(OPEN_STATES))
    q = q.order_by(CaseRow.number)
    zone_is = CaseRow.zone.is_(None) if zone is None else CaseRow.zone == zone
    same = s.scalars(q.where(CaseRow.camera_id == camera_id, zone_is)).first()
    if same is not None or grid is None or point is None or radius_m <= 0:
        return same
    near = [
        (metres(point[0], point[1], c.lon, c.lat), c.number, c)
        for c in s.scalars(q.where(CaseRow.grid_code == grid, CaseRow.camera_id != camera_id))
        if c.lon is not None and c.lat is not None
    ]
    near = [n for n in near if n[0] <= radius_m]
    return min(near, key=lambda n: (n[0], n[1]))[2] if near else None


def count_report(case: CaseRow, active: bool, at: datetime, cfg: CasesConfig) -> tuple[bool, float] | None:
    """Count one camera report for a case under verification: (clear?, span in seconds) once there is a
    verdict — N consecutive 'gone' over the span, or M consecutive 'still there' — else None."""
    started = case.verify_started_at
    if started is None or at < started or (case.verify_last_at is not None and at <= case.verify_last_at):
        return None  # from before the feedback, or a stale repeat
    case.verify_last_at = at
    if active:
        case.verify_clear_count, case.verify_clear_since = 0, None
        case.verify_active_since = since = case.verify_active_since or at
        case.verify_active_count += 1
        span = (at - since).total_seconds()
        if case.verify_active_count >= cfg.verify_active_checks and span >= cfg.verify_active_span:
            return False, span
        return None
    case.verify_active_count, case.verify_active_since = 0, None
    case.verify_clear_since = since = case.verify_clear_since or at
    case.verify_clear_count += 1
    span = (at - since).total_seconds()
    if case.verify_clear_count >= cfg.verify_clear_checks and span >= cfg.verify_clear_span:
        return True, span
    return None
