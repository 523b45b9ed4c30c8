"""Inbound case commands: one reply per message, every error a clear reply, never an exception."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from sentinel.cases.commands import MAX_PAYLOAD, CaseCommands, Reply
from sentinel.cases.engine import CaseChange
from sentinel.cases.roster import Roster
from sentinel.cases.state_machine import MAX_EXTEND_S, BadRequest
from sentinel.console.schemas import CaseActionIn
from sentinel.storage.outbox import OutboxRow
from tests.support.roster import case_roster
from tests.test_case_engine import ROUTING, World, make_world

ROSTER = case_roster()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path)
    yield w
    w.store.engine.dispose()


@pytest.fixture
def case(world: World) -> CaseChange:
    return world.cases.on_alert(world.alert(), ROUTING, False)


@pytest.fixture
def commands(world: World) -> CaseCommands:
    return CaseCommands(world.cases, "sentinel/demo", ROSTER)


def send(commands: CaseCommands, case_id: str, body: Any) -> Reply:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return commands.handle_command(f"sentinel/demo/commands/cases/{case_id}", payload)


def test_topics(commands: CaseCommands) -> None:
    assert commands.subscriptions == ("sentinel/demo/commands/cases/+", "sentinel/demo/commands/by/+/cases/+")
    assert commands.reply_topic == "sentinel/demo/commands/replies"
    assert (
        commands.reply_topic_for("sentinel/demo/commands/by/w1/cases/7")
        == "sentinel/demo/commands/by/w1/replies"
    )
    assert commands.reply_topic_for("sentinel/demo/commands/cases/7") == "sentinel/demo/commands/replies"


def test_a_good_command(commands: CaseCommands, case: CaseChange) -> None:
    reply = send(
        commands, case.case_id, {"action": "accept", "actor": "w1", "note": "on my way", "request_id": "r-1"}
    )
    assert reply == Reply(True, case.case_id, "accept", "r-1", "accepted", 1)
    data = json.loads(reply.to_json())
    assert data["schema"] == "sentinel.case_reply/1" and data["ok"] and data["error"] is None
    by_number = send(commands, "1", {"action": "feedback", "actor": "w1", "request_id": 42})
    assert (by_number.ok, by_number.state, by_number.request_id) == (True, "verifying", "42")


def test_command_platform_is_always_an_actor(commands: CaseCommands, case: CaseChange) -> None:
    assert send(commands, case.case_id, {"action": "suspend", "actor": "command-platform"}).ok


def test_actors_may_come_from_a_live_roster(world: World, case: CaseChange) -> None:
    roster: list[Roster | None] = [None]
    commands = CaseCommands(world.cases, "sentinel/demo", lambda: roster[0])
    assert send(commands, case.case_id, {"action": "accept", "actor": "w1"}).error == "unknown_actor"
    roster[0] = ROSTER  # the roster was reloaded
    assert send(commands, case.case_id, {"action": "accept", "actor": "w1"}).ok


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("sentinel/other/commands/cases/abc", "expected a topic sentinel/demo/commands/cases/<case_id>"),
        ("sentinel/demo/commands/cases/", "expected a topic"),
        ("sentinel/demo/commands/cases/a/b", "expected a topic"),
        ("sentinel/demo/commands/cases/" + "x" * 65, "expected a topic"),
    ],
)
def test_bad_topic(commands: CaseCommands, topic: str, reason: str) -> None:
    reply = commands.handle_command(topic, b'{"action": "accept", "actor": "w1"}')
    assert (reply.ok, reply.error) == (False, "bad_topic") and reason in (reply.reason or "")


def test_oversized_payload(commands: CaseCommands, case: CaseChange) -> None:
    body = b'{"action": "accept", "actor": "w1"}'
    big = body + b" " * (MAX_PAYLOAD + 1 - len(body))
    reply = send(commands, case.case_id, big)
    assert (reply.error, reply.reason) == (
        "too_large",
        f"payload is {MAX_PAYLOAD + 1} bytes; the limit is 65536",
    )
    at_limit = body + b" " * (MAX_PAYLOAD - len(body))
    assert send(commands, case.case_id, at_limit).ok


@pytest.mark.parametrize(
    "payload", [b'{"action": "accept",', b"", b"\xff\xfe", b"{'action': 'accept'}", b"NaN-ish"]
)
def test_bad_json(commands: CaseCommands, case: CaseChange, payload: bytes) -> None:
    reply = send(commands, case.case_id, payload)
    assert (reply.ok, reply.error, reply.case_id) == (False, "bad_json", case.case_id)
    assert (reply.reason or "").startswith("payload is not JSON")


@pytest.mark.parametrize(
    ("payload", "kind"), [(b"[1, 2]", "list"), (b'"accept"', "str"), (b"null", "NoneType"), (b"3", "int")]
)
def test_json_that_is_not_an_object(
    commands: CaseCommands, case: CaseChange, payload: bytes, kind: str
) -> None:
    reply = send(commands, case.case_id, payload)
    assert (reply.error, reply.reason) == ("not_object", f"payload must be a JSON object, got {kind}")


def test_unknown_case(commands: CaseCommands, case: CaseChange) -> None:
    reply = send(commands, "4242", {"action": "accept", "actor": "w1", "request_id": "q"})
    assert (reply.ok, reply.error, reply.reason, reply.request_id) == (
        False,
        "unknown_case",
        "no case '4242'",
        "q",
    )
    assert reply.state is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"actor": "w1"}, "action is missing; actions: accept, close"),
        ({"action": "", "actor": "w1"}, "action is missing"),
        ({"action": 5, "actor": "w1"}, "action is missing"),
        ({"action": "fix", "actor": "w1"}, "unknown action 'fix'; actions: accept"),
        ({"action": "escalate", "actor": "w1"}, "'escalate' is a step Sentinel takes itself"),
    ],
)
def test_unknown_action(commands: CaseCommands, case: CaseChange, body: dict[str, Any], reason: str) -> None:
    reply = send(commands, case.case_id, body)
    assert (reply.ok, reply.error) == (False, "unknown_action") and reason in (reply.reason or "")


def test_illegal_transition_reports_the_current_state(commands: CaseCommands, case: CaseChange) -> None:
    reply = send(commands, case.case_id, {"action": "close", "actor": "cd1", "request_id": "r9"})
    assert (reply.ok, reply.error, reply.state, reply.number) == (
        False,
        "illegal_transition",
        "dispatched",
        1,
    )
    assert reply.reason == "case 1 is dispatched; 'close' needs state verifying"


@pytest.mark.parametrize(
    ("body", "error", "reason"),
    [
        ({"action": "accept"}, "missing_actor", "actor is missing"),
        ({"action": "accept", "actor": ""}, "missing_actor", "actor is missing"),
        ({"action": "accept", "actor": "  "}, "missing_actor", "actor is missing"),
        (
            {"action": "accept", "actor": "mallory"},
            "unknown_actor",
            "unknown actor 'mallory': not on the roster",
        ),
        ({"action": "accept", "actor": 7}, "bad_field", "actor must be a string, got int"),
    ],
)
def test_actor_problems(
    commands: CaseCommands, case: CaseChange, body: dict[str, Any], error: str, reason: str
) -> None:
    reply = send(commands, case.case_id, body)
    assert (reply.ok, reply.error) == (False, error) and (reply.reason or "").startswith(reason)
    assert send(commands, case.case_id, {"action": "accept", "actor": "w1"}).ok  # nothing was applied before


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"action": "accept", "actor": "w1", "asignee": "w2"}, "unknown field(s) asignee; fields: action"),
        ({"action": "accept", "actor": "w1", "note": ["x"]}, "note must be a string, got list"),
        ({"action": "accept", "actor": "w1", "note": "x" * 1001}, "note is longer than 1000 characters"),
        (
            {"action": "accept", "actor": "w1", "request_id": {"a": 1}},
            "request_id must be a string, got dict",
        ),
    ],
)
def test_bad_fields(commands: CaseCommands, case: CaseChange, body: dict[str, Any], reason: str) -> None:
    reply = send(commands, case.case_id, body)
    assert (reply.ok, reply.error) == (False, "bad_field") and reason in (reply.reason or "")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("soon", "not a duration"),
        (-5, "must be positive"),
        (True, "must be seconds"),
        (0, "must be positive"),
    ],
)
def test_bad_extension(commands: CaseCommands, case: CaseChange, value: Any, reason: str) -> None:
    send(commands, case.case_id, {"action": "accept", "actor": "w1"})
    reply = send(commands, case.case_id, {"action": "extend", "actor": "gl1", "extend_by": value})
    assert (reply.error, reply.ok) == ("bad_field", False) and reason in (reply.reason or "")
    good = send(commands, case.case_id, {"action": "extend", "actor": "gl1", "extend_by": "2h"})
    assert (good.ok, good.state) == (True, "extended")


def test_missing_parameter_is_a_bad_request(commands: CaseCommands, case: CaseChange) -> None:
    reply = send(commands, case.case_id, {"action": "merge", "actor": "cd1"})
    assert (reply.error, reply.state) == ("bad_request", "dispatched")
    assert "merge needs merge_into" in (reply.reason or "")


def test_an_internal_failure_is_a_reply_too(
    commands: CaseCommands, case: CaseChange, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: Any, **_k: Any) -> CaseChange:
        raise sa.exc.OperationalError("UPDATE cases", {}, Exception("disk I/O error"))

    monkeypatch.setattr(commands.engine, "act", broken)
    reply = send(commands, case.case_id, {"action": "accept", "actor": "w1", "request_id": "r"})
    assert (reply.ok, reply.error, reply.request_id) == (False, "internal", "r")
    assert reply.reason == "internal error: OperationalError; the command was not applied"


def test_reply_is_queued_after_the_case_message(
    world: World, commands: CaseCommands, case: CaseChange
) -> None:
    reply = commands.handle_and_queue(
        f"sentinel/demo/commands/cases/{case.case_id}", b'{"action":"accept","actor":"w1"}'
    )
    bad = commands.handle_and_queue("sentinel/demo/commands/cases/nope", b"{")
    assert reply.ok and bad.error == "bad_json"
    with world.sessions() as s:
        rows = list(s.scalars(sa.select(OutboxRow).order_by(OutboxRow.id)))
    topics = [r.topic for r in rows]
    assert topics[-3:] == [case.topic, commands.reply_topic, commands.reply_topic]
    assert json.loads(rows[-3].payload)["state"] == "accepted"
    assert json.loads(rows[-2].payload)["ok"] is True and json.loads(rows[-1].payload)["error"] == "bad_json"


def test_garbage_never_raises(commands: CaseCommands, case: CaseChange) -> None:
    rng = random.Random(7)
    samples = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80))) for _ in range(300)]
    samples += [json.dumps(v).encode() for v in (
        {"action": None}, {"action": "accept", "actor": None}, {"action": ["accept"]}, {"action": "merge", "actor": "cd1", "merge_into": 3},
        {"action": "dispatch", "actor": "cd1", "assignee": "w2"}, {"action": "extend", "actor": "w1", "extend_by": 1e308 * 10},
    )]  # fmt: skip
    for payload in samples:
        for topic in (f"sentinel/demo/commands/cases/{case.case_id}", "sentinel/demo/commands/cases/1", "x"):
            reply = commands.handle_command(topic, payload)
            assert isinstance(reply, Reply)
            json.loads(reply.to_json())
            assert reply.ok or (reply.error and reply.reason)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b'{"action": "\\ud800", "actor": "w1", "request_id": "r"}', "action"),
        (b'{"action": "accept", "actor": "w1", "note": "fixed \\udfff", "request_id": "r"}', "note"),
        (b'{"action": "accept", "actor": "\\ud83d", "request_id": "r"}', "actor"),
        (b'{"action": "dispatch", "actor": "cd1", "assignee": "w\\udc00", "request_id": "r"}', "assignee"),
        (b'{"action": "merge", "actor": "cd1", "merge_into": "\\ud800", "request_id": "r"}', "merge_into"),
    ],
)
def test_a_lone_surrogate_is_a_bad_field_with_a_sendable_reply(
    world: World, commands: CaseCommands, case: CaseChange, payload: bytes, field: str
) -> None:
    reply = commands.handle_and_queue(f"sentinel/demo/commands/cases/{case.case_id}", payload)
    assert (reply.ok, reply.error, reply.request_id) == (False, "bad_field", "r")
    assert reply.reason == f"{field} is not text: it holds a lone surrogate (\\ud800 to \\udfff)"
    with world.sessions() as s:
        queued = s.scalars(sa.select(OutboxRow).where(OutboxRow.topic == commands.reply_topic)).all()
    assert [json.loads(r.payload)["error"] for r in queued] == ["bad_field"]  # one reply, queued
    assert world.case(case.case_id).state == "dispatched"  # nothing applied


def test_a_lone_surrogate_elsewhere_still_gets_a_reply(commands: CaseCommands, case: CaseChange) -> None:
    for payload in (
        b'{"action": "accept", "actor": "w1", "request_id": "\\ud800"}',
        b'{"action": "accept", "actor": "w1", "\\ud800": 1, "request_id": "r"}',
    ):
        reply = send(commands, case.case_id, payload)
        assert (reply.ok, reply.error) == (False, "bad_field")
        json.loads(reply.to_json().decode("utf-8"))  # strict UTF-8: sendable
    reply = commands.handle_command(
        "sentinel/demo/commands/cases/\ud800", b'{"action": "accept", "actor": "w1"}'
    )
    assert reply.error == "bad_topic" and reply.to_json()


@pytest.mark.parametrize("value", [99999999999, 1e300, 10**40, "99999999999h", MAX_EXTEND_S + 1])
def test_extension_is_capped_as_the_console_caps_it(
    commands: CaseCommands, case: CaseChange, value: Any
) -> None:
    send(commands, case.case_id, {"action": "accept", "actor": "w1"})
    reply = send(
        commands, case.case_id, {"action": "extend", "actor": "gl1", "extend_by": value, "request_id": "x"}
    )
    assert (reply.ok, reply.error, reply.request_id) == (False, "bad_field", "x")
    assert f"extend_by is more than {MAX_EXTEND_S} seconds (365 days)" in (reply.reason or "")
    at_cap = send(commands, case.case_id, {"action": "extend", "actor": "gl1", "extend_by": MAX_EXTEND_S})
    assert (at_cap.ok, at_cap.state) == (True, "extended")
    # the console's action body has the same limit
    assert CaseActionIn(action="extend", extend_by=MAX_EXTEND_S).extend_by == MAX_EXTEND_S
    with pytest.raises(ValidationError, match="less than or equal to 31536000"):
        CaseActionIn(action="extend", extend_by=MAX_EXTEND_S + 1)


def test_the_engine_refuses_an_extension_over_the_cap(world: World, case: CaseChange) -> None:
    world.cases.act(case.case_id, "accept", "w1")
    with pytest.raises(BadRequest, match="more than 31536000 seconds"):
        world.cases.act(case.case_id, "extend", "gl1", extend_by=MAX_EXTEND_S + 1.0)


def test_a_case_number_too_big_for_the_database_is_unknown(commands: CaseCommands, case: CaseChange) -> None:
    reply = send(commands, "9" * 40, {"action": "accept", "actor": "w1"})
    assert (reply.error, reply.reason) == ("unknown_case", f"no case '{'9' * 40}'")
    merge = send(commands, case.case_id, {"action": "merge", "actor": "cd1", "merge_into": "9" * 40})
    assert merge.error == "unknown_case"


def test_busy_reply_for_a_dropped_command(commands: CaseCommands, case: CaseChange) -> None:
    topic = f"sentinel/demo/commands/cases/{case.case_id}"
    answer = commands.busy_reply(topic, b'{"action": "accept", "actor": "w1", "request_id": 7}')
    assert answer is not None and answer[0] == commands.reply_topic
    body = json.loads(answer[1])
    assert (body["ok"], body["error"], body["request_id"], body["case_id"], body["action"]) == (
        False, "busy", "7", case.case_id, "accept",
    )  # fmt: skip
    assert "not applied" in body["reason"]
    for nobody_waits in (b'{"action": "accept", "actor": "w1"}', b"{", b"[1]", b'{"request_id": ""}'):
        assert commands.busy_reply(topic, nobody_waits) is None  # the publisher logs the burst instead
    assert commands.busy_reply(topic, b'{"request_id": "r", "x": "' + b" " * MAX_PAYLOAD + b'"}') is None
    assert world_state(commands, case) == "dispatched"  # nothing was applied


def world_state(commands: CaseCommands, case: CaseChange) -> str:
    row = commands.engine.get(case.case_id)
    assert row is not None
    return row.state
