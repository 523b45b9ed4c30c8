"""What a field user (role grid_worker) may see and do: the cases their roster person covers.

A field user's `Actor` is `actor_from_roster(roster, user.roster_id)`: a grant per grid they work, lead or
are on duty for (so a grid leader sees the grids they lead, escalations included), plus any case dispatched
to them by name. A case outside that is "not found" to them (404: its existence is not revealed). Staff
(operator, technician, admin) are not scoped; `actor_of` returns None for them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from sentinel.alerts.models import AlertRow
from sentinel.cases.authority import Actor, actor_from_roster
from sentinel.cases.models import CaseRow
from sentinel.cases.steps import find_case
from sentinel.console.deps import ConsoleDeps
from sentinel.console.users import User


def actor_of(user: User, deps: ConsoleDeps) -> Actor | None:
    """The roster actor of a field user (no grants when their person left the roster); None for staff."""
    if not user.field:
        return None
    person = user.roster_id or user.actor
    return actor_from_roster(deps.roster, person) or Actor(person, ())


def case_actor(user: User, deps: ConsoleDeps) -> Actor | str:
    """Who a case action is taken as: a field user as their roster actor (the engine's authority decides),
    staff as the trusted console user (`user:<name>`, an operator)."""
    return actor_of(user, deps) or user.actor


def sees(actor: Actor | None, case: CaseRow) -> bool:
    return actor is None or bool(actor.roles_on(case))


def case_filter(actor: Actor | None) -> ColumnElement[bool]:
    """The SQL condition `sees` is, for listing."""
    if actor is None or any(g.area is None for g in actor.grants):
        return true()
    areas = {g.area for g in actor.grants if g.area}
    terms = [CaseRow.grid_code.startswith(area, autoescape=True) for area in sorted(areas)]
    terms += [CaseRow.assignee == actor.id, CaseRow.worker_id == actor.id]
    return or_(false(), *terms)


def visible_case(s: Session, ref: str, actor: Actor | None) -> CaseRow | None:
    """The case by id or number when `actor` may see it, else None (as if there were none)."""
    case = find_case(s, ref)
    return case if case is not None and sees(actor, case) else None


def alert_visible(s: Session, alert_id: str, actor: Actor | None) -> bool:
    """Whether `actor` may see an alert (its snapshot, its clip): staff always, field staff when it is filed
    under a case they see."""
    if actor is None:
        return True
    case_id = s.scalar(select(AlertRow.case_id).where(AlertRow.id == alert_id))
    case = s.get(CaseRow, case_id) if case_id else None
    return case is not None and sees(actor, case)


def event_visible(actor: Actor | None, kind: str, data: Any) -> bool:
    """Whether a live event goes to this user: staff get all; a field user only the `case` events of cases
    they see (judged on the published case: its grid, who holds it, whose grid it is)."""
    if actor is None:
        return True
    if kind != "case" or not isinstance(data, dict):
        return False
    grid = data.get("grid") or {}
    routing = data.get("routing") or {}
    probe = CaseRow(
        grid_code=grid.get("grid") if isinstance(grid, dict) else None,
        assignee=data.get("assignee"),
        worker_id=routing.get("grid_worker") if isinstance(routing, dict) else None,
    )
    return sees(actor, probe)
