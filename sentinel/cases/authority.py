"""Who may do what to which case: roles, the areas they answer for, and the checks `CaseEngine.act` makes.

Roles, lowest first (the level is the escalation level a role stands at, see `CaseRow.escalation_level`):

    grid_worker (0)       网格员: takes, returns and reports on the cases of their own grids; asks for more time
    grid_leader (1)       网格长: and dispatches, verifies (核查), closes, sends back for rework, grants time
    community (2)         社区: and confirms, rejects, suspends (挂账), resumes, merges
    street (3)            街道: as community, over the whole street
    operator (4)          monitoring room (a console user): every action, everywhere
    command_platform (4)  the command platform's own account: every action, everywhere

A person's roles come from the roster: a grid's `workers` and `leader`, a community's `grid_leader` and
`duty`, a street's `duty`. A role covers a case when the case's grid lies in the role's area, or when the case
was dispatched to that person by name. Three rules on top of the table:
- nobody verifies or closes work they reported done themselves (the command platform's own account aside);
- closing straight from `feedback`, skipping verification, is a leader's override (grid leader and up, or
  the command platform): it needs `override` and a reason in the note;
- an extension asked for by someone at or below the level that holds the case is only a request: it takes
  effect when someone above grants it (`extend`) and is dropped by `deny_extension`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sentinel.cases.models import COMMAND_PLATFORM, CaseRow
from sentinel.cases.roster import Roster
from sentinel.cases.state_machine import ACTIONS, CaseError

MIN_OVERRIDE_REASON = 4  # characters: "ok" is not a reason


class Role(StrEnum):
    grid_worker = "grid_worker"
    grid_leader = "grid_leader"
    community = "community"
    street = "street"
    operator = "operator"
    command_platform = "command_platform"


LEVEL = {
    Role.grid_worker: 0, Role.grid_leader: 1, Role.community: 2, Role.street: 3, Role.operator: 4,
    Role.command_platform: 4,
}  # fmt: skip

_WORKER = frozenset({"accept", "return", "feedback", "extend"})
_LEADER = _WORKER | {"dispatch", "verify", "close", "rework", "deny_extension"}
_DUTY = _LEADER | {"confirm", "reject", "suspend", "resume", "merge"}
ALLOWED: dict[Role, frozenset[str]] = {
    Role.grid_worker: _WORKER,
    Role.grid_leader: _LEADER,
    Role.community: _DUTY,
    Role.street: _DUTY,
    Role.operator: frozenset(ACTIONS),
    Role.command_platform: frozenset(ACTIONS),
}
OVERRIDERS = frozenset({Role.grid_leader, Role.community, Role.street, Role.command_platform})


class Forbidden(CaseError):
    """The actor is known but may not take this action on this case."""

    code = "forbidden"


@dataclass(frozen=True)
class Grant:
    role: Role
    area: str | None  # a grid, community or street code; None: everywhere

    def covers(self, grid_code: str | None) -> bool:
        return self.area is None or (grid_code is not None and grid_code.startswith(self.area))


@dataclass(frozen=True)
class Actor:
    """Who acts, with every role they hold. `id` is what the case log records."""

    id: str
    grants: tuple[Grant, ...]

    @classmethod
    def operator(cls, actor_id: str) -> Actor:
        """A monitoring-room operator (a console user, or the CLI on the server)."""
        return cls(actor_id, (Grant(Role.operator, None),))

    @classmethod
    def local(cls, actor_id: str) -> Actor:
        """An actor named by a trusted local caller (the console, the CLI): the command platform's own
        account by its name, anyone else an operator."""
        return cls.command_platform() if actor_id == COMMAND_PLATFORM else cls.operator(actor_id)

    @classmethod
    def command_platform(cls) -> Actor:
        return cls(COMMAND_PLATFORM, (Grant(Role.command_platform, None),))

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def roles_on(self, case: CaseRow) -> frozenset[Role]:
        """The roles that cover `case`; a case dispatched to this person by name counts as their grid's."""
        roles = {g.role for g in self.grants if g.covers(case.grid_code)}
        if self.id in (case.assignee, case.worker_id):
            roles.add(Role.grid_worker)
        return frozenset(roles)

    def level_on(self, case: CaseRow) -> int:
        return max((LEVEL[r] for r in self.roles_on(case)), default=-1)


def actor_from_roster(roster: Roster | None, person_id: str) -> Actor | None:
    """The actor a roster person is, with a grant per place they answer for; None when not on the roster."""
    if person_id == COMMAND_PLATFORM:
        return Actor.command_platform()
    if roster is None or person_id not in roster.people:
        return None
    data = roster.data
    grants: list[Grant] = []
    for code, grid in data.grids.items():
        if person_id in grid.workers:
            grants.append(Grant(Role.grid_worker, code))
        if grid.leader == person_id:
            grants.append(Grant(Role.grid_leader, code))
    for code, community in data.communities.items():
        if community.grid_leader == person_id:
            grants.append(Grant(Role.grid_leader, code))
        if person_id in community.duty:
            grants.append(Grant(Role.community, code))
    for code, street in data.streets.items():
        if person_id in street.duty:
            grants.append(Grant(Role.street, code))
    return Actor(person_id, tuple(grants))


def _names(roles: Iterable[Role]) -> str:
    return ", ".join(sorted(roles)) or "none"


def check_allowed(
    actor: Actor, action: str, case: CaseRow, *, override: bool, feedback_by: str | None
) -> None:
    """Raise `Forbidden` with the reason unless `actor` may take `action` on `case` (its state is checked
    by the state machine, not here)."""
    label = f"case {case.number}"
    roles = actor.roles_on(case)
    if not roles:
        where = f"grid {case.grid_code}" if case.grid_code else "no grid"
        held = f"roles {_names(actor.roles)}" if actor.grants else "no role on the roster"
        raise Forbidden(f"{actor.id} may not act on {label} ({where}): it is outside their area ({held})")
    if not any(action in ALLOWED[r] for r in roles):
        raise Forbidden(f"{actor.id} ({_names(roles)}) may not '{action}' {label}")
    if override and not roles & OVERRIDERS:
        raise Forbidden(f"{actor.id} ({_names(roles)}) may not override verification: a grid leader may")
    if action in ("verify", "close") and feedback_by == actor.id and Role.command_platform not in roles:
        raise Forbidden(
            f"{actor.id} reported {label} done and may not {action} it too: someone else checks the work (核查)"
        )


def grants_time(actor: Actor, case: CaseRow) -> bool:
    """Whether an `extend` from `actor` takes effect (they stand above the level holding the case), or is
    only a request waiting for someone who does."""
    level = actor.level_on(case)
    return level > case.escalation_level or level >= LEVEL[Role.command_platform]


def override_reason(note: str | None) -> str:
    """The reason an override must give, or `Forbidden` when it gives none."""
    reason = (note or "").strip()
    if len(reason) < MIN_OVERRIDE_REASON:
        raise Forbidden("closing without verification is an override: give the reason in the note")
    return reason
