"""`/api/cases`: grid cases (filtered, paged), one case with its full transition log, actions; and
`/api/transitions`, the log across cases (who did what, when).

Field staff (grid_worker) see only the cases their roster person covers (console/scope.py): another case is
404 to them, as if it did not exist. Their actions are taken as their roster actor, so the case engine's
authority decides what they may do; staff act as before (operators, as `user:<name>`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy import func, or_, select
from sqlalchemy.sql import Select

from sentinel.alerts.models import AlertRow
from sentinel.cases.authority import Actor
from sentinel.cases.models import CaseAlertRow, CaseRow, CaseTransitionRow
from sentinel.cases.state_machine import CLOCK_RUNS, OPEN, State
from sentinel.console.auth import current_user, get_deps, signed_in
from sentinel.console.deps import ConsoleDeps
from sentinel.console.models import EvidenceRow
from sentinel.console.schemas import (
    CaseActionIn,
    CaseDetail,
    CasePage,
    ErrorOut,
    TransitionOut,
    VerificationOut,
    invalid,
)
from sentinel.console.scope import actor_of, case_actor, case_filter, visible_case
from sentinel.console.users import User
from sentinel.console.views import alerts_out, case_out, evidence_out, iso, map_links, transition_out

router = APIRouter(prefix="/api", tags=["cases"])
Deps = Annotated[ConsoleDeps, Depends(get_deps)]
AnyUser = Annotated[User, Depends(current_user)]
FieldOrStaff = Annotated[User, Depends(signed_in)]  # scoped: console/scope.py
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
}
STATES = [s.value for s in State]


def _filtered(
    q: Select[Any], deps: ConsoleDeps, state: list[str] | None, open_: bool | None,
    grid: str | None, event_type: str | None, camera: str | None, assignee: str | None, overdue: bool | None,
) -> Select[Any]:  # fmt: skip
    if state:
        q = q.where(CaseRow.state.in_(state))
    if open_ is not None:
        is_open = CaseRow.state.in_([s.value for s in OPEN])
        q = q.where(is_open if open_ else ~is_open)
    if grid:
        q = q.where(CaseRow.grid_code.startswith(grid, autoescape=True))
    if event_type:
        q = q.where(CaseRow.event_type == event_type)
    if camera:
        q = q.where(CaseRow.camera_id == camera)
    if assignee:
        q = q.where(CaseRow.assignee == assignee)
    if overdue is not None:
        now = deps.clock()
        late = or_(
            CaseRow.overdue.is_(True),
            CaseRow.state.in_([s.value for s in CLOCK_RUNS]) & (CaseRow.deadline_at < now),
            CaseRow.due_at < now,
        ) & CaseRow.state.in_([s.value for s in OPEN])
        q = q.where(late if overdue else ~late)
    return q


@router.get("/cases", response_model=CasePage, responses=ERRORS)
def list_cases(
    deps: Deps,
    user: FieldOrStaff,
    state: Annotated[list[str] | None, Query(description=f"one or more of: {', '.join(STATES)}")] = None,
    open: Annotated[
        bool | None, Query(description="true: open cases only; false: closed, rejected, merged")
    ] = None,
    grid: Annotated[
        str | None, Query(pattern=r"^\d{9}(\d{3}){0,2}$", description="grid, community or street code")
    ] = None,
    event_type: Annotated[str | None, Query(alias="type", max_length=64)] = None,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
    overdue: Annotated[bool | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CasePage:
    """Cases, newest first (field staff: the cases they cover)."""
    bad = [s for s in state or [] if s not in STATES]
    if bad:
        raise invalid("query.state", f"unknown state {bad[0]!r}; states: {', '.join(STATES)}")
    args = (deps, state, open, grid, event_type, camera, assignee, overdue)
    scope = case_filter(actor_of(user, deps))
    with deps.sessions() as s:
        total = s.scalar(_filtered(select(func.count(CaseRow.id)), *args).where(scope))
        q = (
            _filtered(select(CaseRow), *args)
            .where(scope)
            .order_by(CaseRow.number.desc())
            .limit(limit)
            .offset(offset)
        )
        items = [case_out(c, deps) for c in s.scalars(q)]
    return CasePage(items=items, total=int(total or 0), limit=limit, offset=offset)


def _detail(deps: ConsoleDeps, ref: str, actor: Actor | None = None) -> CaseDetail:
    """The case with its log, alerts and evidence; 404 when there is none or `actor` may not see it."""
    with deps.sessions() as s:
        case = visible_case(s, ref, actor)
        if case is None:
            raise HTTPException(404, f"no case {ref!r}")
        log = s.scalars(
            select(CaseTransitionRow)
            .where(CaseTransitionRow.case_id == case.id)
            .order_by(CaseTransitionRow.id)
        )
        transitions = [transition_out(t, deps, case.number) for t in log]
        joined = select(CaseAlertRow.alert_id).where(CaseAlertRow.case_id == case.id)
        rows = list(s.scalars(select(AlertRow).where(AlertRow.id.in_(joined)).order_by(AlertRow.detected_at)))
        alerts = alerts_out(s, rows, deps)
        photos = s.scalars(select(EvidenceRow).where(EvidenceRow.case_id == case.id).order_by(EvidenceRow.ts))
        verification = VerificationOut(
            round=case.verify_round, started_at=iso(case.verify_started_at, deps),
            result=case.verify_result,
        )  # fmt: skip
        return CaseDetail(
            **case_out(case, deps).model_dump(), transitions=transitions, alerts=alerts,
            evidence=[evidence_out(e, deps) for e in photos], verification=verification,
            map=map_links(case.lat, case.lon),
        )  # fmt: skip


@router.get("/cases/{ref}", response_model=CaseDetail, responses=ERRORS)
def get_case(ref: str, deps: Deps, user: FieldOrStaff) -> CaseDetail:
    """A case by id or number, with its alerts, evidence photos and its full transition log (field staff:
    404 for a case they do not cover)."""
    return _detail(deps, ref, actor_of(user, deps))


@router.post(
    "/cases/{ref}/actions", response_model=CaseDetail, responses={**ERRORS, 409: {"model": ErrorOut}}
)
def act_on_case(ref: str, body: CaseActionIn, deps: Deps, user: FieldOrStaff) -> CaseDetail:
    """Move a case on (dispatch, accept, feedback, close, rework, extend, ...); the case log records you.
    Staff need the operator role; field staff act as their roster person, and the case engine's authority
    decides (a grid worker accepts, reports, returns, asks for time)."""
    require_actor(user)
    actor = actor_of(user, deps)
    case = _detail(deps, ref, actor)
    deps.actions.case_action(
        case.case_id, body.action, case_actor(user, deps), body.note or None,
        assignee=body.assignee or None, merge_into=body.merge_into or None, extend_by=body.extend_by,
    )  # fmt: skip
    return _detail(deps, case.case_id, actor)


def require_actor(user: User) -> None:
    """Who may act on cases at all: operators (admins) and field staff (whom the engine then checks)."""
    if not user.field and not user.may("operator"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the operator role (you are {user.role})")


@router.get("/transitions", response_model=list[TransitionOut], responses=ERRORS)
def list_transitions(
    deps: Deps,
    _user: AnyUser,
    since: Annotated[datetime | None, Query(description="at or after (ISO 8601)")] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TransitionOut]:
    """The case log across all cases, newest first."""
    q = select(CaseTransitionRow, CaseRow.number).join(CaseRow, CaseRow.id == CaseTransitionRow.case_id)
    if since is not None:
        q = q.where(CaseTransitionRow.ts >= (since if since.tzinfo else since.replace(tzinfo=deps.tz)))
    if actor:
        q = q.where(CaseTransitionRow.actor == actor)
    with deps.sessions() as s:
        rows = s.execute(q.order_by(CaseTransitionRow.id.desc()).limit(limit))
        return [transition_out(t, deps, number) for t, number in rows]
