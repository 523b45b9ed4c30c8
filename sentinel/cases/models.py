"""ORM rows for grid cases (网格案件): the case, the alerts joined to it, its transition log and its timers,
and the case as published (`case_payload`). The row-level steps a change is made of are `sentinel.cases.steps`.

Timers are rows (not sleeping threads), so a restarted daemon carries on where the old one stopped. Times are
stored in UTC (`UTCDateTime`) and come back time-zone aware on SQLite as on PostgreSQL.
"""

from __future__ import annotations

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
)
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.cases.payload import CaseMessage
from sentinel.cases.state_machine import CLOCK_RUNS, OPEN
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
    # disposal deadline (`due_at`) that on-time closure is measured by: set at dispatch, moved by a suspension
    # that began before it passed (the clock stopped), never by an extension (see docs/kpis.md)
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
    # an extension asked for from the level holding the case, waiting for the level above (authority.py)
    extension_request_s: Mapped[float | None] = mapped_column(Float)
    extension_requested_by: Mapped[str | None] = mapped_column(String(100))
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # while suspended: since when

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
    """The case as published (`sentinel.case/1`): built through `CaseMessage`, the schema's source."""
    return CaseMessage.model_validate({
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
            "extension_request": (
                None
                if case.extension_request_s is None
                else {"seconds": case.extension_request_s, "requested_by": case.extension_requested_by}
            ),
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
    }).to_dict()  # fmt: skip
