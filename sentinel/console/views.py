"""Rows → API models: alerts and cases with the place names, people and review the console shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sentinel.alerts.models import AlertRow
from sentinel.cases.models import LEVEL_ROLES, CaseRow, CaseTransitionRow
from sentinel.cases.state_machine import CLOCK_RUNS, OPEN, allowed_actions
from sentinel.console.deps import ConsoleDeps
from sentinel.console.models import AlertReviewRow, EvidenceRow
from sentinel.console.schemas import (
    AlertOut,
    CaseOut,
    EvidenceOut,
    MapLinks,
    PersonOut,
    PlaceOut,
    ReviewOut,
    TransitionOut,
)
from sentinel.fields.grid_code import GridCode, area_of
from sentinel.geo.geolocate import wgs84_to_gcj02


def iso(value: datetime | None, deps: ConsoleDeps) -> str | None:
    return value.astimezone(deps.tz).isoformat(timespec="seconds") if value is not None else None


def place(
    deps: ConsoleDeps, grid: str | None, community: str | None = None, street: str | None = None
) -> PlaceOut | None:
    """A grid code (or its parents) with the names the grid data gives them."""
    cell = GridCode.of(grid)
    community = community or (cell.community if cell else None)
    street = street or (area_of(community, "street") if community else None)
    if not (grid or community or street):
        return None

    def name(code: str | None) -> str | None:
        cell = deps.cells.get(code) if deps.cells is not None and code else None
        return cell.name if cell is not None else None

    return PlaceOut(
        grid=grid, name=name(grid), community=community, community_name=name(community), street=street,
        street_name=name(street),
    )  # fmt: skip


def reviews_for(s: Session, alert_ids: list[str]) -> dict[str, AlertReviewRow]:
    """The latest review of each alert."""
    if not alert_ids:
        return {}
    rows = s.scalars(
        select(AlertReviewRow).where(AlertReviewRow.alert_id.in_(alert_ids)).order_by(AlertReviewRow.id)
    )
    return {r.alert_id: r for r in rows}


def case_numbers(s: Session, case_ids: set[str]) -> dict[str, int]:
    if not case_ids:
        return {}
    rows = s.execute(select(CaseRow.id, CaseRow.number).where(CaseRow.id.in_(case_ids)))
    return {case_id: number for case_id, number in rows}


def alert_out(
    row: AlertRow, deps: ConsoleDeps, review: AlertReviewRow | None = None, case_number: int | None = None
) -> AlertOut:
    p: dict[str, Any] = row.payload
    grid = p.get("grid") or {}
    clip = p.get("clip") or {}
    return AlertOut(
        alert_id=row.id, event_type=row.event_type, code=row.code, name=p.get("name", row.event_type),
        name_en=p.get("name_en", row.event_type), severity=row.severity, camera_id=row.camera_id,
        camera_name=p.get("camera_name") or row.camera_id, zone=row.zone, started_at=p["started_at"],
        detected_at=p["detected_at"], confidence=row.confidence, count=row.count, objects=p.get("objects", []),
        location=p.get("location"),
        place=place(deps, grid.get("grid") or row.grid_code, grid.get("community"), grid.get("street")),
        snapshot_url=f"/api/alerts/{row.id}/snapshot" if p.get("snapshot") or row.snapshot_path else None,
        clip_url=clip.get("url") if clip.get("state") in ("ready", "partial") else None,
        clip_state=clip.get("state"),
        review_state=row.review_state, case_id=row.case_id, case_number=case_number,
        review=ReviewOut(
            verdict=review.verdict, label=review.label, reason=review.reason, actor=review.actor,
            at=iso(review.ts, deps) or "",
        ) if review else None,
    )  # fmt: skip


def alerts_out(s: Session, rows: list[AlertRow], deps: ConsoleDeps) -> list[AlertOut]:
    reviews = reviews_for(s, [r.id for r in rows])
    numbers = case_numbers(s, {r.case_id for r in rows if r.case_id})
    return [
        alert_out(r, deps, reviews.get(r.id), numbers.get(r.case_id) if r.case_id else None) for r in rows
    ]


def person(deps: ConsoleDeps, person_id: str | None) -> PersonOut | None:
    if not person_id:
        return None
    known = deps.roster.people.get(person_id) if deps.roster is not None else None
    if known is None:
        return PersonOut(id=person_id)
    return PersonOut(id=person_id, name=known.name, title=known.title or None, phone=known.phone)


def is_overdue(case: CaseRow, now: datetime) -> bool:
    if case.state not in OPEN:
        return False
    if case.overdue:
        return True
    running = case.state in CLOCK_RUNS and case.deadline_at is not None and case.deadline_at < now
    return running or (case.due_at is not None and case.due_at < now)


def case_out(case: CaseRow, deps: ConsoleDeps) -> CaseOut:
    event_type = deps.event_types.get(case.event_type)
    return CaseOut(
        case_id=case.id, number=case.number, event_type=case.event_type, code=case.code, name=case.name,
        name_en=event_type.name_en if event_type else None, severity=case.severity, state=case.state,
        place=place(deps, case.grid_code, case.community_code, case.street_code),
        camera_id=case.camera_id, zone=case.zone, lon=case.lon, lat=case.lat,
        assignee=person(deps, case.assignee), worker=person(deps, case.worker_id),
        escalation_level=case.escalation_level, escalation_role=LEVEL_ROLES[case.escalation_level],
        command_platform=case.command_platform, deadline_at=iso(case.deadline_at, deps),
        due_at=iso(case.due_at, deps), overdue=is_overdue(case, deps.clock()),
        created_at=iso(case.created_at, deps) or "", updated_at=iso(case.updated_at, deps) or "",
        dispatched_at=iso(case.dispatched_at, deps), closed_at=iso(case.closed_at, deps),
        alert_count=case.alert_count, rework_count=case.rework_count, extension_count=case.extension_count,
        note=case.note, allowed_actions=allowed_actions(case.state, case.extension_request_s is not None),
    )  # fmt: skip


def transition_out(t: CaseTransitionRow, deps: ConsoleDeps, number: int | None = None) -> TransitionOut:
    return TransitionOut(
        id=t.id, case_id=t.case_id, case_number=number, ts=iso(t.ts, deps) or "", actor=t.actor, action=t.action,
        from_state=t.from_state, to_state=t.to_state, assignee=t.assignee, level=t.level, note=t.note,
    )  # fmt: skip


def evidence_out(e: EvidenceRow, deps: ConsoleDeps) -> EvidenceOut:
    return EvidenceOut(
        id=e.id, case_id=e.case_id, transition_id=e.transition_id, actor=e.actor, ts=iso(e.ts, deps) or "",
        url=f"/api/evidence/{e.id}", size=e.size, sha256=e.sha256, width=e.width, height=e.height, note=e.note,
    )  # fmt: skip


def map_links(lat: float | None, lon: float | None) -> MapLinks | None:
    """geo: takes WGS-84 (RFC 5870); AMap draws GCJ-02, so its marker gets the shifted position."""
    if lat is None or lon is None:
        return None
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    return MapLinks(
        geo=f"geo:{lat:.6f},{lon:.6f}",
        amap=f"https://uri.amap.com/marker?position={g_lon:.6f},{g_lat:.6f}&coordinate=gaode&callnative=1",
    )
