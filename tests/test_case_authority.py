"""Who may act on which case: roles and areas from the roster, verification that cannot be skipped by the
worker, extensions approved by the level above, the sender on a person's own topic, and KPIs that an
extension cannot clean. Real engine on SQLite and PostgreSQL, commands as the MQTT intake receives them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sentinel.cases.authority import ALLOWED, Forbidden, Grant, Role, actor_from_roster
from sentinel.cases.commands import CaseCommands, Reply
from sentinel.cases.kpis import compute_kpis
from sentinel.cases.models import CaseRow, CaseTransitionRow
from sentinel.cases.state_machine import ACTIONS
from sentinel.config.models import CasesConfig
from sentinel.storage.outbox import OutboxRow
from tests.support.roster import FAR_GRID, GRID, OTHER_GRID, case_roster
from tests.test_case_engine import ROUTING, World, make_world

PREFIX = "sentinel/demo"
ROSTER = case_roster()


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[World]:
    # an operator or a leader verifies (no camera re-check), so `feedback` leaves the case in feedback
    w = make_world(tmp_path, config=CasesConfig(camera_verification=False), url=db_url)
    yield w
    w.store.engine.dispose()


@pytest.fixture
def commands(world: World) -> CaseCommands:
    return CaseCommands(world.cases, PREFIX, ROSTER)


@pytest.fixture
def case_id(world: World) -> str:
    return world.cases.on_alert(world.alert(), ROUTING, False).case_id  # dispatched to w1 in GRID


def send(commands: CaseCommands, case_id: str, body: dict[str, Any], sender: str | None = None) -> Reply:
    topic = commands.topics.command(case_id, sender)
    return commands.handle_and_queue(topic, json.dumps(body).encode())


def state(world: World, case_id: str) -> str:
    return world.case(case_id).state


def steps(world: World, case_id: str) -> list[tuple[str, str]]:
    with world.sessions() as s:
        q = sa.select(CaseTransitionRow.action, CaseTransitionRow.actor).where(
            CaseTransitionRow.case_id == case_id
        )
        return [(a, b) for a, b in s.execute(q.order_by(CaseTransitionRow.id))]


def replies(world: World, topic: str) -> list[dict[str, Any]]:
    with world.sessions() as s:
        rows = s.scalars(sa.select(OutboxRow).where(OutboxRow.topic == topic).order_by(OutboxRow.id))
        return [json.loads(r.payload) for r in rows]


# ---------------------------------------------------------------- roles from the roster


def test_roles_come_from_the_roster() -> None:
    def grants(pid: str) -> set[Grant]:
        actor = actor_from_roster(ROSTER, pid)
        assert actor is not None
        return set(actor.grants)

    assert grants("w1") == {Grant(Role.grid_worker, GRID)}
    assert grants("gl1") == {Grant(Role.grid_leader, GRID)}
    assert grants("cd1") == {Grant(Role.community, GRID[:12])}
    assert grants("sd1") == {Grant(Role.street, GRID[:9])}
    assert grants("command-platform") == {Grant(Role.command_platform, None)}
    assert actor_from_roster(ROSTER, "mallory") is None and actor_from_roster(None, "w1") is None
    # each level may do what the one below may, and more; from the community up, everything in their area
    levels = [ALLOWED[r] for r in (Role.grid_worker, Role.grid_leader, Role.community)]
    assert levels[0] < levels[1] < levels[2] == ALLOWED[Role.command_platform] == frozenset(ACTIONS)
    assert {"verify", "close", "dispatch"}.isdisjoint(ALLOWED[Role.grid_worker])


# ---------------------------------------------------------------- area


def test_a_grid_worker_cannot_act_outside_their_grid(
    world: World, commands: CaseCommands, case_id: str
) -> None:
    before = steps(world, case_id)
    reply = send(commands, case_id, {"action": "accept", "actor": "w9", "request_id": "r1"})
    assert (reply.ok, reply.error, reply.state) == (False, "forbidden", "dispatched")
    assert "outside their area" in (reply.reason or "") and f"grid {GRID}" in (reply.reason or "")
    assert steps(world, case_id) == before and state(world, case_id) == "dispatched"  # nothing changed
    # exactly one reply, with the code
    assert [(r["request_id"], r["error"]) for r in replies(world, commands.reply_topic)] == [
        ("r1", "forbidden")
    ]
    # the leader of the other grid and the duty staff of another community are outside too
    for outsider in ("gl9", "cd2"):
        assert send(commands, case_id, {"action": "dispatch", "actor": outsider, "assignee": "w2"}).error == (
            "forbidden"
        )
    # the worker of the grid, and the street above it, are inside
    assert send(commands, case_id, {"action": "accept", "actor": "w1"}).ok
    assert send(commands, case_id, {"action": "suspend", "actor": "sd1", "note": "road works"}).ok


def test_a_case_dispatched_by_name_may_be_taken_by_that_person(
    world: World, commands: CaseCommands, case_id: str
) -> None:
    assert send(commands, case_id, {"action": "return", "actor": "w1", "note": "not ours"}).ok
    assert send(commands, case_id, {"action": "dispatch", "actor": "cd1", "assignee": "w5"}).ok  # FAR_GRID's
    assert world.case(case_id).assignee == "w5" and FAR_GRID != GRID
    assert send(commands, case_id, {"action": "accept", "actor": "w5"}).ok
    assert send(commands, case_id, {"action": "feedback", "actor": "w9"}).error == "forbidden"  # OTHER_GRID's
    assert OTHER_GRID != GRID


# ---------------------------------------------------------------- verification


def test_a_grid_worker_cannot_skip_verification(world: World, commands: CaseCommands, case_id: str) -> None:
    assert send(commands, case_id, {"action": "accept", "actor": "w1"}).ok
    assert (
        send(commands, case_id, {"action": "feedback", "actor": "w1", "note": "cleared"}).state == "feedback"
    )
    for body in (
        {"action": "close", "actor": "w1"},
        {"action": "verify", "actor": "w1"},
        {"action": "close", "actor": "w1", "override": True, "note": "trust me, it is clean"},
        {"action": "close", "actor": "w2", "override": True, "note": "my colleague did it"},
    ):
        reply = send(commands, case_id, body)
        assert (reply.ok, reply.error) == (False, "forbidden"), body
    assert state(world, case_id) == "feedback"
    # the leader checks, then closes
    assert send(commands, case_id, {"action": "verify", "actor": "gl1"}).state == "verifying"
    assert send(commands, case_id, {"action": "close", "actor": "gl1"}).state == "closed"


def test_a_leader_overrides_verification_only_with_a_reason(
    world: World, commands: CaseCommands, case_id: str
) -> None:
    send(commands, case_id, {"action": "accept", "actor": "w1"})
    send(commands, case_id, {"action": "feedback", "actor": "w1"})
    plain = send(commands, case_id, {"action": "close", "actor": "gl1"})
    assert (plain.error, plain.state) == ("illegal_transition", "feedback")
    assert "a grid leader overrides" in (plain.reason or "")
    silent = send(commands, case_id, {"action": "close", "actor": "gl1", "override": True})
    assert (silent.error, silent.reason) == (
        "forbidden", "closing without verification is an override: give the reason in the note"
    )  # fmt: skip
    bad = send(commands, case_id, {"action": "close", "actor": "gl1", "override": "yes"})
    assert bad.error == "bad_field"
    done = send(commands, case_id, {"action": "close", "actor": "gl1", "override": True,
                                    "note": "seen on site by me at 10:40"})  # fmt: skip
    assert (done.ok, done.state) == (True, "closed")
    last = world.case(case_id).note
    assert last == "verification overridden by gl1: seen on site by me at 10:40"


def test_nobody_verifies_their_own_work(world: World, commands: CaseCommands, case_id: str) -> None:
    # the leader took the case over and reported it done: someone else checks it
    send(commands, case_id, {"action": "accept", "actor": "gl1"})
    send(commands, case_id, {"action": "feedback", "actor": "gl1"})
    own = send(commands, case_id, {"action": "verify", "actor": "gl1"})
    assert own.error == "forbidden" and "may not verify it too" in (own.reason or "")
    assert send(commands, case_id, {"action": "close", "actor": "gl1", "override": True,
                                    "note": "I know it is clean"}).error == "forbidden"  # fmt: skip
    assert send(commands, case_id, {"action": "verify", "actor": "cd1"}).ok
    # the engine holds the same line for a console operator
    world.cases.act(case_id, "rework", "op1", "still there")
    world.cases.act(case_id, "feedback", "op1", "the worker phoned: cleared")
    with pytest.raises(Forbidden, match="may not verify it too"):
        world.cases.act(case_id, "verify", "op1")
    world.cases.act(case_id, "verify", "op2")


def test_the_command_platform_may_do_everything(world: World, commands: CaseCommands, case_id: str) -> None:
    for action in ("accept", "feedback"):
        assert send(commands, case_id, {"action": action, "actor": "command-platform"}).ok
    closed = send(commands, case_id, {"action": "close", "actor": "command-platform", "override": True,
                                      "note": "confirmed by the district's inspector"})  # fmt: skip
    assert closed.state == "closed"


# ---------------------------------------------------------------- extensions


def test_an_extension_from_the_worker_waits_for_the_leader(
    world: World, commands: CaseCommands, case_id: str
) -> None:
    send(commands, case_id, {"action": "accept", "actor": "w1"})
    before = world.case(case_id)
    asked = send(commands, case_id, {"action": "extend", "actor": "w1", "extend_by": "2h", "note": "parts"})
    assert (asked.ok, asked.state) == (True, "accepted")  # a request: the deadline has not moved
    after = world.case(case_id)
    assert (after.deadline_at, after.due_at, after.extension_count) == (before.deadline_at, before.due_at, 0)
    assert (after.extension_request_s, after.extension_requested_by) == (7200, "w1")
    [(_, message)] = world.case_messages()[-1:]
    assert message["action"] == "extend_request"
    assert message["deadline"]["extension_request"] == {"seconds": 7200.0, "requested_by": "w1"}

    world.clock.advance(minutes=10)
    granted = send(commands, case_id, {"action": "extend", "actor": "gl1"})  # approves as asked
    assert granted.state == "extended"
    now = world.case(case_id)
    assert now.deadline_at == before.deadline_at + timedelta(hours=2)  # type: ignore[operator]
    assert now.due_at == before.due_at  # the KPI deadline stays: an extension does not make late on time
    assert (now.extension_count, now.extension_request_s, now.extension_requested_by) == (1, None, None)
    assert ("extend", "gl1") in steps(world, case_id)

    send(commands, case_id, {"action": "extend", "actor": "w1", "extend_by": 3600})
    denied = send(commands, case_id, {"action": "deny_extension", "actor": "gl1", "note": "not needed"})
    assert (denied.ok, denied.state) == (True, "extended")
    assert world.case(case_id).extension_request_s is None and world.case(case_id).extension_count == 1
    again = send(commands, case_id, {"action": "deny_extension", "actor": "gl1"})
    assert (again.error, again.reason) == ("bad_request", "case 1 has no extension request to deny")
    assert send(commands, case_id, {"action": "deny_extension", "actor": "w1"}).error == "forbidden"


def test_at_community_level_the_street_approves(world: World, commands: CaseCommands, case_id: str) -> None:
    send(commands, case_id, {"action": "accept", "actor": "w1"})
    with world.sessions.begin() as s:  # the case climbed to the community (escalation, shortened here)
        s.get(CaseRow, case_id).escalation_level = 2  # type: ignore[union-attr]
    assert (
        send(commands, case_id, {"action": "extend", "actor": "cd1", "extend_by": "1h"}).state == "accepted"
    )
    assert world.case(case_id).extension_requested_by == "cd1"
    assert send(commands, case_id, {"action": "extend", "actor": "sd1"}).state == "extended"


# ---------------------------------------------------------------- a person's own topic


def test_on_a_persons_own_topic_the_topic_names_the_actor(
    world: World, commands: CaseCommands, case_id: str
) -> None:
    own_replies = commands.topics.command_replies("w1")
    assert own_replies == f"{PREFIX}/commands/by/w1/replies"
    assert send(commands, case_id, {"action": "accept", "request_id": "a"}, sender="w1").ok
    assert steps(world, case_id)[-1] == ("accept", "w1")
    posing = send(commands, case_id, {"action": "feedback", "actor": "gl1", "request_id": "b"}, sender="w1")
    assert (posing.error, posing.reason) == (
        "forbidden", "w1 may not act as 'gl1': on its own topic, the actor is w1"
    )  # fmt: skip
    platform = send(commands, case_id, {"action": "feedback", "request_id": "c"}, sender="command-platform")
    assert platform.error == "forbidden"
    stranger = send(commands, case_id, {"action": "feedback", "request_id": "d"}, sender="mallory")
    assert stranger.error == "unknown_actor"
    # each answer went to the sender's own reply topic, one per command, and none to the platform's
    assert [r["request_id"] for r in replies(world, own_replies)] == ["a", "b"]
    assert [r["request_id"] for r in replies(world, commands.topics.command_replies("mallory"))] == ["d"]
    assert replies(world, commands.reply_topic) == []
    assert state(world, case_id) == "accepted"


# ---------------------------------------------------------------- KPIs


def test_an_extension_does_not_clean_a_late_case(world: World, case_id: str) -> None:
    # garbage_exposed: 4 h; dispatched 09:00, due 13:00
    world.cases.act(case_id, "accept", "w1")
    world.clock.at(hours=3)
    world.cases.act(case_id, "extend", "gl1", extend_by=4 * 3600)
    world.clock.at(hours=6)  # 15:00: inside the extension, after the original deadline
    world.cases.act(case_id, "feedback", "w1")
    world.cases.act(case_id, "verify", "gl1")
    world.cases.act(case_id, "close", "gl1")
    on_time = world.cases.on_alert(world.alert(camera="cam2", lon=116.45), ROUTING, False).case_id
    world.cases.act(on_time, "accept", "w1")
    world.cases.act(on_time, "extend", "gl1", extend_by=3600)
    world.clock.at(hours=7)
    world.cases.act(on_time, "feedback", "w1")  # 16:00, dispatched 15:00: well inside its first 4 h
    world.cases.act(on_time, "verify", "gl1")
    world.cases.act(on_time, "close", "gl1")
    kpi = compute_kpis(world.sessions, world.clock.now).overall
    assert (kpi.due, kpi.deferred, kpi.closed_on_time, kpi.on_time_rate) == (2, 2, 1, 0.5)


def test_a_suspension_after_the_deadline_does_not_clean_it_either(world: World, case_id: str) -> None:
    world.cases.act(case_id, "accept", "w1")
    early = world.cases.on_alert(world.alert(camera="cam2", lon=116.45), ROUTING, False).case_id
    world.cases.act(early, "accept", "w1")
    world.clock.at(hours=1)
    world.cases.act(early, "suspend", "cd1", "waiting for the owner")  # before 13:00: the clock stops
    world.clock.at(hours=5)
    world.cases.act(case_id, "suspend", "cd1", "waiting for the owner")  # after 13:00: already late
    world.clock.at(hours=9)
    for cid in (case_id, early):
        world.cases.act(cid, "resume", "cd1")
        world.cases.act(cid, "feedback", "w1")
        world.cases.act(cid, "verify", "gl1")
        world.cases.act(cid, "close", "gl1")
    assert world.case(early).due_at > world.case(early).closed_at  # type: ignore[operator]  # moved 8 h
    late = world.case(case_id)
    assert late.due_at is not None and late.closed_at is not None and late.due_at < late.closed_at
    kpi = compute_kpis(world.sessions, world.clock.now).overall
    assert (kpi.due, kpi.closed_on_time) == (2, 1)
