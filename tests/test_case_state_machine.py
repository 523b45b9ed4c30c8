"""The case lifecycle table: what is allowed, what is refused and how the refusal reads."""

from __future__ import annotations

import pytest

from sentinel.cases.state_machine import (
    ACTIONS,
    OPEN,
    SYSTEM_ACTIONS,
    TERMINAL,
    TRANSITIONS,
    BadRequest,
    IllegalTransition,
    State,
    UnknownAction,
    allowed_actions,
    next_state,
)

S = State

# The lifecycle of DESIGN.md, written out independently of the table under test.
EXPECTED = {
    (S.pending_review, "confirm"): S.registered,
    (S.pending_review, "reject"): S.rejected,
    (S.registered, "dispatch"): S.dispatched,
    (S.registered, "reject"): S.rejected,
    (S.dispatched, "accept"): S.accepted,
    (S.dispatched, "return"): S.returned,
    (S.accepted, "return"): S.returned,
    (S.accepted, "feedback"): S.feedback,
    (S.accepted, "extend"): S.extended,
    (S.extended, "extend"): S.extended,
    (S.extended, "feedback"): S.feedback,
    (S.rework, "feedback"): S.feedback,
    (S.rework, "extend"): S.extended,
    **{(s, "deny_extension"): s for s in (S.accepted, S.rework, S.extended)},  # stays: drops the request
    (S.feedback, "verify"): S.verifying,
    (S.feedback, "rework"): S.rework,
    (S.verifying, "close"): S.closed,
    (S.verifying, "rework"): S.rework,
    (S.returned, "dispatch"): S.dispatched,
    (S.returned, "reject"): S.rejected,
    **{
        (s, "suspend"): S.suspended
        for s in (S.registered, S.dispatched, S.accepted, S.rework, S.extended, S.returned)
    },
    (S.suspended, "resume"): None,
    **{(s, "merge"): S.merged for s in State if s not in (S.closed, S.rejected, S.merged)},
}


def test_table_is_the_documented_lifecycle() -> None:
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_state_action_pair(state: State, action: str) -> None:
    key = (state, action)
    if key in EXPECTED and EXPECTED[key] is not None:
        assert next_state("7", state, action) == EXPECTED[key]
    elif key in EXPECTED:  # resume
        assert next_state("7", state, action, resume_state="accepted") == S.accepted
    else:
        with pytest.raises(IllegalTransition) as info:
            next_state("7", state, action)
        assert info.value.reason.startswith(f"case 7 is {state.value}")
        assert f"'{action}' needs state" in info.value.reason
        assert info.value.code == "illegal_transition"


def test_refusal_reads_clearly() -> None:
    with pytest.raises(IllegalTransition) as info:
        next_state("1234", "closed", "feedback")
    assert (
        str(info.value)
        == "case 1234 is closed (a final state); 'feedback' needs state accepted, rework or extended"
    )
    with pytest.raises(IllegalTransition, match="case 9 is dispatched; 'close' needs state verifying$"):
        next_state("9", "dispatched", "close")


def test_close_needs_verification_first() -> None:
    """核查结案: a worker's feedback is verified before the case closes; feedback alone never closes it."""
    with pytest.raises(IllegalTransition) as info:
        next_state("5", "feedback", "close")
    assert info.value.reason == (
        "case 5 is feedback; 'close' needs state verifying: the work is not verified yet (核查); "
        "'verify' it first, then close (or a grid leader overrides, with a reason)"
    )
    assert next_state("5", "feedback", "verify") == S.verifying
    assert next_state("5", "verifying", "close") == S.closed
    assert "close" not in allowed_actions("feedback") and "close" in allowed_actions("verifying")


def test_unknown_and_system_actions() -> None:
    with pytest.raises(UnknownAction, match=r"unknown action 'fix'; actions: accept, close, confirm"):
        next_state("1", "accepted", "fix")
    for action in SYSTEM_ACTIONS:
        with pytest.raises(UnknownAction, match="step Sentinel takes itself"):
            next_state("1", "accepted", action)


def test_resume_returns_to_where_the_case_was() -> None:
    assert next_state("3", "suspended", "resume", resume_state="extended") == S.extended
    for bad in (None, "closed", "suspended", "nonsense"):
        with pytest.raises(IllegalTransition, match="records no state to resume"):
            next_state("3", "suspended", "resume", resume_state=bad)


def test_shape_of_the_lifecycle() -> None:
    assert {S.closed, S.rejected, S.merged} == TERMINAL
    for state in TERMINAL:
        assert allowed_actions(state) == []
    for state in OPEN:
        assert allowed_actions(state), f"{state} is a dead end"
    # every state is reachable from pending_review (resume goes back to any suspendable state)
    seen, todo = {S.pending_review}, [S.pending_review]
    while todo:
        here = todo.pop()
        for (state, _action), new in TRANSITIONS.items():
            target = new or S.accepted
            if state == here and target not in seen:
                seen.add(target)
                todo.append(target)
    assert seen == set(State)
    assert allowed_actions("accepted") == ["extend", "feedback", "merge", "return", "suspend"]
    assert "deny_extension" in allowed_actions("accepted", extension_requested=True)


def test_close_from_feedback_only_as_an_override() -> None:
    with pytest.raises(IllegalTransition, match="verify' it first"):
        next_state("7", S.feedback, "close")
    assert next_state("7", S.feedback, "close", override=True) == S.closed
    assert (
        next_state("7", S.verifying, "close", override=True) == S.closed
    )  # nothing to override: plain close
    with pytest.raises(IllegalTransition):  # an override skips verification only, nothing else
        next_state("7", S.accepted, "close", override=True)
    with pytest.raises(BadRequest, match="override applies to close only"):
        next_state("7", S.accepted, "feedback", override=True)
