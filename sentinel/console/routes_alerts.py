"""`/api/alerts`: the queue (filtered, paged), one alert, its snapshot, confirm and reject."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse
from sqlalchemy import func, select, update
from sqlalchemy.sql import Select

from sentinel.alerts.models import AlertRow
from sentinel.console.auth import current_user, get_deps, require, signed_in
from sentinel.console.deps import ConsoleDeps
from sentinel.console.media import snapshot_file
from sentinel.console.models import AlertReviewRow
from sentinel.console.schemas import AlertOut, AlertPage, ConfirmIn, ErrorOut, RejectIn, invalid
from sentinel.console.scope import actor_of, alert_visible
from sentinel.console.users import User
from sentinel.console.views import alerts_out

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
Deps = Annotated[ConsoleDeps, Depends(get_deps)]
AnyUser = Annotated[User, Depends(current_user)]
Operator = Annotated[User, Depends(require("operator"))]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
}


def db_time(value: datetime, deps: ConsoleDeps) -> datetime:
    """A bound for `alerts.detected_at`: SQLite keeps the site's wall time (no offset), others keep the zone.
    A bound without a zone is in the site's time zone."""
    aware = value.replace(tzinfo=deps.tz) if value.tzinfo is None else value
    if deps.engine.dialect.name == "sqlite":
        return aware.astimezone(deps.tz).replace(tzinfo=None)
    return aware


def _filtered(
    q: Select[Any], deps: ConsoleDeps, state: str | None, event_type: str | None,
    camera: str | None, grid: str | None, since: datetime | None, until: datetime | None,
) -> Select[Any]:  # fmt: skip
    if state:
        q = q.where(AlertRow.review_state == state)
    if event_type:
        q = q.where(AlertRow.event_type == event_type)
    if camera:
        q = q.where(AlertRow.camera_id == camera)
    if grid:  # a grid, or every grid of a community (12 digits) or street (9)
        q = q.where(AlertRow.grid_code.startswith(grid, autoescape=True))
    if since:
        q = q.where(AlertRow.detected_at >= db_time(since, deps))
    if until:
        q = q.where(AlertRow.detected_at < db_time(until, deps))
    return q


@router.get("", response_model=AlertPage, responses=ERRORS)
def list_alerts(
    deps: Deps,
    _user: AnyUser,
    state: Annotated[
        Literal["new", "confirmed", "rejected"] | None, Query(description="review state")
    ] = None,
    event_type: Annotated[str | None, Query(alias="type", max_length=64, description="event type id")] = None,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    grid: Annotated[
        str | None, Query(pattern=r"^\d{9}(\d{3}){0,2}$", description="grid, community or street code")
    ] = None,
    since: Annotated[datetime | None, Query(description="detected at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="detected before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AlertPage:
    """Alerts, newest first."""
    if since and until and until <= since:
        raise invalid("query.until", "until must be after since")
    args = (deps, state, event_type, camera, grid, since, until)
    with deps.sessions() as s:
        total = s.scalar(_filtered(select(func.count(AlertRow.id)), *args))
        q = _filtered(select(AlertRow), *args).order_by(AlertRow.detected_at.desc(), AlertRow.id)
        rows = list(s.scalars(q.limit(limit).offset(offset)))
        return AlertPage(items=alerts_out(s, rows, deps), total=int(total or 0), limit=limit, offset=offset)


def _one(deps: ConsoleDeps, alert_id: str) -> AlertOut:
    with deps.sessions() as s:
        row = s.get(AlertRow, alert_id)
        if row is None:
            raise HTTPException(404, f"no alert {alert_id}")
        return alerts_out(s, [row], deps)[0]


@router.get("/{alert_id}", response_model=AlertOut, responses=ERRORS)
def get_alert(alert_id: str, deps: Deps, _user: AnyUser) -> AlertOut:
    return _one(deps, alert_id)


@router.get(
    "/{alert_id}/snapshot",
    response_class=FileResponse,
    responses={**ERRORS, 200: {"content": {"image/jpeg": {}}, "description": "the alert's JPEG"}},
)
def alert_snapshot(alert_id: str, deps: Deps, user: Annotated[User, Depends(signed_in)]) -> FileResponse:
    """The alert's JPEG; field staff get the snapshots of the cases they see (404 for any other)."""
    with deps.sessions() as s:
        row = s.get(AlertRow, alert_id)
        if row is None or not alert_visible(s, alert_id, actor_of(user, deps)):
            raise HTTPException(404, f"no alert {alert_id}")
        url = (row.payload.get("snapshot") or {}).get("url")
        stored = row.snapshot_path
    path = snapshot_file(deps.data_dir, url, Path(stored) if stored else None)
    if path is None:
        raise HTTPException(404, f"alert {alert_id} has no snapshot (or it was removed by retention)")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


def _announce(deps: ConsoleDeps, alert: AlertOut) -> None:
    deps.live.publish(
        "alert_review",
        {"alert_id": alert.alert_id, "review_state": alert.review_state, "case_id": alert.case_id,
         "case_number": alert.case_number, "review": alert.review.model_dump() if alert.review else None},
    )  # fmt: skip


def _undecided(deps: ConsoleDeps, alert_id: str) -> None:
    alert = _one(deps, alert_id)
    if alert.review_state != "new":
        by = f" by {alert.review.actor} at {alert.review.at}" if alert.review else ""
        raise HTTPException(409, f"alert {alert_id} is already {alert.review_state}{by}")


def _record(deps: ConsoleDeps, alert_id: str, verdict: str, reason: str | None, actor: str) -> AlertOut:
    """The operator's decision, kept with the alert (a rejection is a false-positive label)."""
    with deps.sessions.begin() as s:
        s.add(
            AlertReviewRow(
                alert_id=alert_id, verdict=verdict, label="false_positive" if verdict == "rejected" else None,
                reason=reason, actor=actor, ts=deps.clock(),
            )
        )  # fmt: skip
        s.execute(
            update(AlertRow)
            .where(AlertRow.id == alert_id, AlertRow.review_state == "new")
            .values(review_state=verdict)
        )
    out = _one(deps, alert_id)
    _announce(deps, out)
    return out


@router.post("/{alert_id}/confirm", response_model=AlertOut, responses={**ERRORS, 409: {"model": ErrorOut}})
def confirm_alert(alert_id: str, body: ConfirmIn, deps: Deps, user: Operator) -> AlertOut:
    """Confirm (立案): the alert becomes (or joins) a grid case, routed to the place's grid worker."""
    _undecided(deps, alert_id)
    deps.actions.confirm_alert(alert_id, user.actor, body.note or None)
    return _record(deps, alert_id, "confirmed", body.note or None, user.actor)


@router.post("/{alert_id}/reject", response_model=AlertOut, responses={**ERRORS, 409: {"model": ErrorOut}})
def reject_alert(alert_id: str, body: RejectIn, deps: Deps, user: Operator) -> AlertOut:
    """Reject: not a case. The reason is kept with the alert as a false-positive label for tuning."""
    _undecided(deps, alert_id)
    deps.actions.reject_alert(alert_id, user.actor, body.reason)
    return _record(deps, alert_id, "rejected", body.reason, user.actor)
