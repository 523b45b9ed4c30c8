"""Case KPIs per grid, per community and per grid worker, from the cases and their transition log.

Definitions (local practice in digital urban management; see DOMAIN.md):
- cases: registered (立案) and neither cancelled (rejected) nor merged into another case;
- closure rate (结案率) = closed ÷ cases;
- due (应结案): dispatched cases whose disposal deadline (`due_at`) has passed, or that are closed;
- deferred: due cases that were extended (延期) or suspended (挂账) at some point (shown, not excluded);
- on-time closure rate (按期结案率) = closed on time ÷ due, where closed on time means closed no later than
  the disposal deadline. That deadline is set at dispatch and never moved by an extension: an extended case
  closed after its original deadline is late. A suspension that began before the deadline moves it by the
  time the clock stood still; one that began after it does not (docs/kpis.md says why);
- rework count (返工): failed verifications (`rework` transitions);
- mean time per stage: the mean length of a stay in each state, over stays that have ended.

Per worker, a case counts for the person who held it at the grid-worker level (escalation level 0): the
last assignee the log records at that level, which is `CaseRow.worker_id` (the grid's responsible worker from
the roster, or the person it was dispatched to by name). It stays theirs when it is escalated to the grid
leader or above: the escalation is that worker's missed deadline, so it counts against them, not against the
leader who inherits it. Cases never held at that level count under "unassigned": not yet dispatched, or
dispatched straight to a higher level (urgent cases go to the street).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sentinel.cases.models import CaseRow, CaseTransitionRow

UNASSIGNED = "unassigned"


@dataclass
class _Facts:
    case: CaseRow
    counted: bool = False
    due: bool = False
    deferred: bool = False
    on_time: bool = False
    reworks: int = 0
    worker: str | None = None  # who held the case at the grid-worker level (level 0)
    stays: list[tuple[str, float]] = field(default_factory=list)


class KpiRow(BaseModel):
    """One row of the KPI table; the console's `KpiRowOut` is this model plus the place's name."""

    model_config = ConfigDict(frozen=True)

    key: str  # grid or community code, a worker's roster id, "unassigned", or "all"
    cases: int
    open: int
    closed: int
    closure_rate: float | None
    due: int
    deferred: int
    closed_on_time: int
    on_time_rate: float | None
    rework_count: int
    escalated: int
    mean_stage_seconds: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


@dataclass(frozen=True)
class KpiReport:
    at: datetime
    overall: KpiRow
    by_grid: list[KpiRow]
    by_community: list[KpiRow]
    by_worker: list[KpiRow]

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(timespec="seconds"),
            "overall": self.overall.to_dict(),
            "by_grid": [r.to_dict() for r in self.by_grid],
            "by_community": [r.to_dict() for r in self.by_community],
            "by_worker": [r.to_dict() for r in self.by_worker],
        }


def _facts(case: CaseRow, log: list[CaseTransitionRow], now: datetime) -> _Facts:
    f = _Facts(case)
    registered = any(t.to_state == "registered" for t in log)
    f.counted = registered and case.state not in ("rejected", "merged")
    f.due = f.counted and case.due_at is not None and (case.state == "closed" or case.due_at <= now)
    f.deferred = f.due and any(t.action in ("extend", "suspend") for t in log)
    f.on_time = (
        f.due
        and case.state == "closed"
        and case.closed_at is not None
        and case.due_at is not None
        and case.closed_at <= case.due_at
    )
    f.reworks = sum(1 for t in log if t.action == "rework")
    f.worker = next((t.assignee for t in reversed(log) if t.level == 0 and t.assignee), None)
    state: str | None = None
    since: datetime | None = None
    for t in log:
        if t.to_state == state:
            continue  # a step inside a stage (reminder, escalation, a joined alert)
        if state is not None and since is not None:
            f.stays.append((state, (t.ts - since).total_seconds()))
        state, since = t.to_state, t.ts
    return f


def _row(key: str, facts: Iterable[_Facts]) -> KpiRow:
    items = list(facts)
    counted = [f for f in items if f.counted]
    closed = sum(1 for f in counted if f.case.state == "closed")
    due = sum(1 for f in items if f.due)
    deferred = sum(1 for f in items if f.deferred)
    on_time = sum(1 for f in items if f.on_time)
    stays: dict[str, list[float]] = defaultdict(list)
    for f in items:
        for state, seconds in f.stays:
            stays[state].append(seconds)
    return KpiRow(
        key=key,
        cases=len(counted),
        open=sum(1 for f in counted if f.case.state != "closed"),
        closed=closed,
        closure_rate=closed / len(counted) if counted else None,
        due=due,
        deferred=deferred,
        closed_on_time=on_time,
        on_time_rate=on_time / due if due else None,
        rework_count=sum(f.reworks for f in items),
        escalated=sum(1 for f in counted if f.case.escalation_count > 0),
        mean_stage_seconds={s: sum(v) / len(v) for s, v in sorted(stays.items())},
    )


def compute_kpis(
    session_factory: sessionmaker[Session], now: datetime, since: datetime | None = None
) -> KpiReport:
    """KPIs of the cases created at or after `since` (all cases without it), as of `now`; by grid, by
    community and by grid worker (see the module's docstring for whom a case counts)."""
    with session_factory() as s:
        q = select(CaseRow)
        tq = select(CaseTransitionRow).order_by(CaseTransitionRow.case_id, CaseTransitionRow.id)
        if since is not None:
            q = q.where(CaseRow.created_at >= since)
            tq = tq.where(
                CaseTransitionRow.case_id.in_(select(CaseRow.id).where(CaseRow.created_at >= since))
            )
        cases = {c.id: c for c in s.scalars(q)}
        logs: dict[str, list[CaseTransitionRow]] = defaultdict(list)
        for t in s.scalars(tq):
            logs[t.case_id].append(t)
    facts = [_facts(c, logs[c.id], now) for c in cases.values()]
    by_grid: dict[str, list[_Facts]] = defaultdict(list)
    by_community: dict[str, list[_Facts]] = defaultdict(list)
    by_worker: dict[str, list[_Facts]] = defaultdict(list)
    for f in facts:
        by_grid[f.case.grid_code or UNASSIGNED].append(f)
        by_community[f.case.community_code or UNASSIGNED].append(f)
        by_worker[f.worker or UNASSIGNED].append(f)
    return KpiReport(
        at=now,
        overall=_row("all", facts),
        by_grid=[_row(k, v) for k, v in sorted(by_grid.items())],
        by_community=[_row(k, v) for k, v in sorted(by_community.items())],
        by_worker=[_row(k, v) for k, v in sorted(by_worker.items())],
    )
