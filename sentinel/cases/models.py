"""ORM rows for grid cases (网格案件): the case, the alerts joined to it, its transition log and its timers;
and the row-level steps a change is made of (log a transition, attach an alert, arm the clock).

Timers are rows (not sleeping threads), so a restarted daemon carries on where the old one stopped. Times are
stored in UTC (`UTCDateTime`) and come back time-zone aware on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from sentinel.alerts.models import AlertRow
from sentinel.alerts.schema import Alert
from sentinel.cases.state_machine import CLOCK_RUNS, OPEN
from sentinel.config.event_types import EventType
from sentinel.config.models import CasesConfig
from sentinel.storage.db import Base

CASE_SCHEMA = "sentinel.case/1"
COMMAND_PLATFORM = "command-platform"
SYSTEM = "sentinel"  # the actor of the steps Sentinel takes itself (cameras act as "camera:<id>")
# escalation levels: who holds the case at each (levels 0..3 come from the roster, 4 is the command platform)
LEVEL_ROLES = ("grid_worker", "grid_leader", "community_duty", "street_duty", "command_platform")
CONTACT_FIELDS = ("worker_id", "grid_leader_id", "community_duty_id", "street_duty_id")
TOP_LEVEL = len(LEVEL_ROLES) - 1
OPEN_STATES = sorted(s.value for s in OPEN)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC; SQLite (which keeps no offset) hands it back aware too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: case times must carry a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_camera_state", "camera_id", "state"),
        Index("ix_cases_type_state", "event_type", "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a UUID
    number: Mapped[int] = mapped_column(Integer, unique=True)  # short, human: "case 17"
    version: Mapped[int] = mapped_column(Integer)  # optimistic lock: concurrent writers cannot both win
    event_type: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    resume_state: Mapped[str | None] = mapped_column(String(16))  # where `resume` returns a suspended case
    # where: the grid cell (15 digits) and its parents, the camera and zone that saw it, the ground point
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    street_code: Mapped[str | None] = mapped_column(String(9))
    camera_id: Mapped[str | None] = mapped_column(String(64))
    zone: Mapped[str | None] = mapped_column(String(64))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    # who: the roster at filing time (levels 0..3) and who holds the case now
    worker_id: Mapped[str | None] = mapped_column(String(64))
    grid_leader_id: Mapped[str | None] = mapped_column(String(64))
    community_duty_id: Mapped[str | None] = mapped_column(String(64))
    street_duty_id: Mapped[str | None] = mapped_column(String(64))
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    escalation_level: Mapped[int] = mapped_column(Integer)  # 0 worker .. 3 street duty, 4 command platform
    overdue: Mapped[bool] = mapped_column(default=False)  # a deadline has passed (escalated at least once)
    command_platform: Mapped[bool] = mapped_column(default=False)  # urgent, or escalated past the street
    # when: the event type's deadline (seconds, working hours or not), the current level's deadline, and the
    # disposal deadline (`due_at`, shifted by extensions and suspensions) that on-time closure is measured by
    base_deadline_s: Mapped[float] = mapped_column(Float)
    working_hours: Mapped[bool] = mapped_column(default=False)
    window_s: Mapped[float | None] = mapped_column(Float)  # the current level's allowance
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remaining_s: Mapped[float | None] = mapped_column(Float)  # while suspended: what the clock had left
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # counts
    alert_count: Mapped[int] = mapped_column(Integer, default=0)
    first_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    extension_count: Mapped[int] = mapped_column(Integer, default=0)
    escalation_count: Mapped[int] = mapped_column(Integer, default=0)
    # verification by camera: round (one per feedback), consecutive clear/active reports and since when
    verify_round: Mapped[int] = mapped_column(Integer, default=0)
    verify_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verify_result: Mapped[str | None] = mapped_column(String(16))  # clear / still_active / timeout
    verify_clear_count: Mapped[int] = mapped_column(Integer, default=0)
    verify_clear_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verify_active_count: Mapped[int] = mapped_column(Integer, default=0)
    verify_active_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verify_last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    merged_into: Mapped[str | None] = mapped_column(String(36))
    note: Mapped[str | None] = mapped_column(Text)  # the last transition's note

    __mapper_args__ = {"version_id_col": version}


class CaseAlertRow(Base):
    __tablename__ = "case_alerts"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    alert_id: Mapped[str] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseTransitionRow(Base):
    __tablename__ = "case_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # log order
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))  # a roster id, "command-platform", "camera:<id>", ...
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))  # None when the case is created
    to_state: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(64))  # who holds the case after this step
    level: Mapped[int] = mapped_column(Integer)  # escalation level after this step
    note: Mapped[str | None] = mapped_column(Text)


class CaseTimerRow(Base):
    __tablename__ = "case_timers"
    __table_args__ = (Index("ix_case_timers_due", "done", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # reminder / escalate / verify_timeout
    level: Mapped[int] = mapped_column(Integer)  # escalation level (verify_timeout: verification round)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _iso(value: datetime | None, tz: Any) -> str | None:
    return value.astimezone(tz).isoformat(timespec="seconds") if value is not None else None


def case_payload(
    case: CaseRow, alert_ids: list[str], action: str, actor: str, tz: Any, name_en: str | None
) -> dict[str, Any]:
    """The case as published (`sentinel.case/1`, see `sentinel/data/case.schema.json`)."""
    return {
        "schema": CASE_SCHEMA,
        "case_id": case.id,
        "number": case.number,
        "event_type": case.event_type,
        "code": case.code,
        "name": case.name,
        "name_en": name_en,
        "severity": case.severity,
        "state": case.state,
        "action": action,
        "actor": actor,
        "note": case.note,
        "grid": {"street": case.street_code, "community": case.community_code, "grid": case.grid_code},
        "camera_id": case.camera_id,
        "zone": case.zone,
        "location": {"lon": case.lon, "lat": case.lat}
        if case.lon is not None and case.lat is not None
        else None,
        "assignee": case.assignee,
        "routing": {
            "grid_worker": case.worker_id,
            "grid_leader": case.grid_leader_id,
            "community_duty": case.community_duty_id,
            "street_duty": case.street_duty_id,
        },
        "escalation": {
            "level": case.escalation_level,
            "role": LEVEL_ROLES[case.escalation_level],
            "overdue": case.overdue,
            "command_platform": case.command_platform,
            "count": case.escalation_count,
        },
        "deadline": {
            "base_seconds": case.base_deadline_s,
            "working_hours": case.working_hours,
            "deadline_at": _iso(case.deadline_at, tz),
            "due_at": _iso(case.due_at, tz),
            "clock_running": case.state in CLOCK_RUNS and case.deadline_at is not None,
            "reminded_at": _iso(case.reminded_at, tz),
        },
        "created_at": _iso(case.created_at, tz),
        "updated_at": _iso(case.updated_at, tz),
        "dispatched_at": _iso(case.dispatched_at, tz),
        "closed_at": _iso(case.closed_at, tz),
        "alert_ids": alert_ids,
        "alert_count": case.alert_count,
        "first_alert_at": _iso(case.first_alert_at, tz),
        "last_alert_at": _iso(case.last_alert_at, tz),
        "rework_count": case.rework_count,
        "extension_count": case.extension_count,
        "verification": {
            "round": case.verify_round,
            "started_at": _iso(case.verify_started_at, tz),
            "result": case.verify_result,
            "clear_checks": case.verify_clear_count,
            "active_checks": case.verify_active_count,
        },
        "merged_into": case.merged_into,
    }


# ---------------------------------------------------------------- the row-level steps every change is made of


def find_case(s: Session, ref: str, lock: bool = False) -> CaseRow | None:
    """A case by id, or by its number ("17")."""
    where = CaseRow.number == int(ref) if ref.isascii() and ref.isdigit() else CaseRow.id == ref
    q = select(CaseRow).where(where)
    return s.scalars(q.with_for_update() if lock else q).first()


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
        severity=event_type.severity.value, state="pending_review",
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
