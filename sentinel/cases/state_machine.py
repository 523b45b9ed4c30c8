"""The case lifecycle (after the digital urban-management process 立案→派遣→处置→反馈→核查→结案).

    pending_review → registered (立案) → dispatched (派遣) → accepted → feedback (处理反馈) → verifying (核查)
    → closed (结案); side paths rejected (注销), merged, rework (返工), returned (回退), extended (延期),
    suspended (挂账).

`TRANSITIONS` is the whole contract: (state, action) → new state, with actions named as the command platform
sends them. Anything else is refused with a reason a person can act on.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    pending_review = "pending_review"  # waiting for an operator to confirm (立案) or reject
    registered = "registered"  # 立案: a case, not yet sent to anyone
    dispatched = "dispatched"  # 派遣: sent to the grid worker; the clock runs
    accepted = "accepted"  # the worker took it (签收)
    feedback = "feedback"  # 处理反馈: the worker says it is handled
    verifying = "verifying"  # 核查: the camera or an operator checks the place
    closed = "closed"  # 结案
    rejected = "rejected"  # not a case / cancelled (注销)
    merged = "merged"  # folded into another case
    rework = "rework"  # 返工: verification failed, back to the worker
    returned = "returned"  # 回退: the worker sent it back for re-assignment
    extended = "extended"  # 延期: more time granted
    suspended = "suspended"  # 挂账: parked, clock stopped


TERMINAL = frozenset({State.closed, State.rejected, State.merged})
OPEN = frozenset(State) - TERMINAL
CLOCK_RUNS = frozenset({State.dispatched, State.accepted, State.rework, State.extended})
IN_VERIFICATION = frozenset({State.feedback, State.verifying})

_S = State
_STAY = "stay"  # the action leaves the state as it is
_WORKING = (_S.accepted, _S.rework, _S.extended)
# action → (states it is allowed from, new state; None = back to the state the case was suspended from)
_RULES: dict[str, tuple[tuple[State, ...], State | str | None]] = {
    "confirm": ((_S.pending_review,), _S.registered),
    "reject": ((_S.pending_review, _S.registered, _S.returned), _S.rejected),
    "dispatch": ((_S.registered, _S.returned), _S.dispatched),
    "accept": ((_S.dispatched,), _S.accepted),
    "return": ((_S.dispatched, _S.accepted), _S.returned),
    "extend": (_WORKING, _S.extended),  # from below the holder's level: a request (authority.grants_time)
    "deny_extension": (_WORKING, _STAY),  # drops a pending extension request
    "feedback": (_WORKING, _S.feedback),
    "verify": ((_S.feedback,), _S.verifying),
    "close": ((_S.verifying,), _S.closed),  # 核查结案: only a verified case closes (verify first)
    "rework": ((_S.feedback, _S.verifying), _S.rework),
    "suspend": (
        (_S.registered, _S.dispatched, _S.accepted, _S.rework, _S.extended, _S.returned),
        _S.suspended,
    ),
    "resume": ((_S.suspended,), None),
    "merge": (tuple(s for s in State if s not in TERMINAL), _S.merged),
}
ACTIONS: tuple[str, ...] = tuple(sorted(_RULES))
# what to do instead, where the refusal alone would leave a person guessing
_HINTS = {
    ("close", "feedback"): ": the work is not verified yet (核查); 'verify' it first, then close (or a grid "
    "leader overrides, with a reason)"
}
# (action, state) → new state, allowed only as an override (a leader's, with a reason: see authority.py)
OVERRIDES: dict[tuple[str, State], State] = {("close", _S.feedback): _S.closed}
MAX_EXTEND_S = 365 * 86400  # the most one `extend` may add (a year), by every way in: MQTT, console, CLI

# (state, action) → new state (None: the state it was suspended from)
TRANSITIONS: dict[tuple[State, str], State | None] = {
    (state, action): (state if new == _STAY else State(new) if new is not None else None)
    for action, (sources, new) in _RULES.items()
    for state in sources
}

# Steps a command records without being an action of its own: `extend` from the level holding the case.
RECORDED_STEPS = frozenset({"extend_request"})

# Steps Sentinel takes itself; they never change the state and are not accepted as commands.
SYSTEM_ACTIONS = frozenset({"create", "join", "remind", "escalate", "camera_verified", "verify_timeout"})


class CaseError(Exception):
    """A request about a case that cannot be carried out; `reason` says why, `code` what kind of problem."""

    code = "case_error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownCase(CaseError):
    code = "unknown_case"


class UnknownAction(CaseError):
    code = "unknown_action"


class IllegalTransition(CaseError):
    code = "illegal_transition"


class BadRequest(CaseError):
    """The action is allowed but something it needs is missing or wrong (assignee, merge target, ...)."""

    code = "bad_request"


class ConcurrentChange(CaseError):
    code = "conflict"


def _either(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def check_action(action: str) -> None:
    if action in _RULES:
        return
    if action in SYSTEM_ACTIONS:
        raise UnknownAction(
            f"'{action}' is a step Sentinel takes itself, not a command; actions: {', '.join(ACTIONS)}"
        )
    raise UnknownAction(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")


def next_state(
    case_label: str, state: str, action: str, resume_state: str | None = None, override: bool = False
) -> State:
    """The state `action` leads to from `state`, or IllegalTransition/UnknownAction with the reason.
    `override`: also the transitions of `OVERRIDES` (whether the actor may override is authority's call)."""
    check_action(action)
    sources, new = _RULES[action]
    if override:
        if not any(a == action for a, _ in OVERRIDES):
            raise BadRequest(f"override applies to {', '.join(sorted({a for a, _ in OVERRIDES}))} only")
        if (action, state) in OVERRIDES:
            return OVERRIDES[(action, State(state))]
    if state not in sources:
        needed = _either([s.value for s in sources])
        final = " (a final state)" if state in TERMINAL else ""
        hint = _HINTS.get((action, state), "")
        raise IllegalTransition(f"case {case_label} is {state}{final}; '{action}' needs state {needed}{hint}")
    if new == _STAY:
        return State(state)
    if new is None:
        if resume_state is None or resume_state not in OPEN or resume_state == State.suspended:
            raise IllegalTransition(f"case {case_label} is suspended but records no state to resume")
        return State(resume_state)
    return State(new)


def allowed_actions(state: str, extension_requested: bool = False) -> list[str]:
    """What may be done with a case in `state` (by someone whose role allows it: see authority.py);
    `deny_extension` only while an extension request waits."""
    return [
        action
        for action in ACTIONS
        if state in _RULES[action][0] and (action != "deny_extension" or extension_requested)
    ]
