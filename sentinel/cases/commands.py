"""Inbound case commands from the command platform over MQTT.

Two ways in, told apart by the topic (the broker's ACL says who may write which, see deploy/mosquitto/acl):
- `{prefix}/commands/cases/{case_id}`: the command platform's account. `actor` says on whose behalf: a roster
  id (acting with that person's roles) or "command-platform" (every action, everywhere).
- `{prefix}/commands/by/{user}/cases/{case_id}`: a person's own client. The MQTT user name in the topic is the
  actor (the ACL `pattern write {prefix}/commands/by/%u/cases/+` lets nobody else write it); an `actor`
  field, if given, must be the same. The reply goes to that person's `{prefix}/commands/by/{user}/replies`.

The body: `{"action": ..., "actor": ..., "note": ..., "request_id": ...}`, optional `assignee` for dispatch,
`merge_into` for merge, `extend_by` seconds or "2h" for extend, `override: true` for a leader's close without
verification (the reason in `note`). Who may do what is `authority.py`'s. Every message gets exactly one
`Reply`: ok with the case's new state, or an error code and a reason. `handle_command` never raises: bad
input is the sender's problem, not the daemon's.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sentinel.cases.authority import Actor, actor_from_roster
from sentinel.cases.engine import CaseEngine
from sentinel.cases.models import COMMAND_PLATFORM
from sentinel.cases.roster import Roster
from sentinel.cases.state_machine import ACTIONS, MAX_EXTEND_S, CaseError, UnknownAction, check_action
from sentinel.fields import parse_duration
from sentinel.mqtt.topics import Topics
from sentinel.storage.outbox import OutboxRow

log = logging.getLogger(__name__)

MAX_PAYLOAD = 64 * 1024
REPLY_SCHEMA = "sentinel.case_reply/1"
FIELDS = ("action", "actor", "note", "request_id", "assignee", "merge_into", "extend_by", "override")


@dataclass(frozen=True)
class Reply:
    ok: bool
    case_id: str | None  # as named in the topic (an id or a case number)
    action: str | None
    request_id: str | None
    state: str | None = None  # the case's state after the command (ok), or now (an illegal transition)
    number: int | None = None
    error: str | None = None  # bad_topic, too_large, bad_json, not_object, bad_field, unknown_action,
    #                           missing_actor, unknown_actor, forbidden, unknown_case, illegal_transition,
    #                           bad_request, conflict, internal, busy (dropped unread: too many waiting)
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # what the sender wrote is echoed (case id, action, request id): never let it make the reply unsendable
        return {"schema": REPLY_SCHEMA, **{k: _sendable(v) for k, v in asdict(self).items()}}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False).encode("utf-8")


class _Refused(Exception):
    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error, self.reason = error, reason


_NOT_TEXT = "{key} is not text: it holds a lone surrogate (\\ud800 to \\udfff)"


def _sendable(value: Any) -> Any:
    """A string as UTF-8 can carry it (a lone surrogate from a JSON escape becomes '?')."""
    if isinstance(value, str) and not _is_text(value):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: JSON's "\ud800" decodes to one, UTF-8 cannot hold it
        return False
    return True


def _text(body: dict[str, Any], key: str, limit: int = 1000) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Refused("bad_field", f"{key} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise _Refused("bad_field", f"{key} is longer than {limit} characters")
    if not _is_text(value):
        raise _Refused("bad_field", _NOT_TEXT.format(key=key))
    return value


class CaseCommands:
    """Turns command messages into `CaseEngine.act` calls. `roster`: the people who may act, with their roles
    (a function returning the current roster follows reloads); "command-platform" is the platform's own."""

    def __init__(
        self, engine: CaseEngine, prefix: str, roster: Roster | None | Callable[[], Roster | None]
    ) -> None:
        self.engine = engine
        self.topics = Topics(prefix.rstrip("/"))
        self._roster = roster

    @property
    def subscriptions(self) -> tuple[str, ...]:
        return self.topics.commands(), self.topics.own_commands()

    @property
    def reply_topic(self) -> str:
        return self.topics.command_replies()

    def reply_topic_for(self, topic: str) -> str:
        """Where the reply to a command on `topic` goes: the sender's own replies, or the platform's."""
        command = self.topics.parse_command(topic)
        return self.topics.command_replies(command.sender if command is not None else None)

    def actor(self, person_id: str) -> Actor | None:
        roster = self._roster() if callable(self._roster) else self._roster
        return actor_from_roster(roster, person_id)

    def handle_command(self, topic: str, payload: bytes) -> Reply:
        """One command in, one reply out; never raises."""
        case_id = action = request_id = None
        try:
            case_id = self._case_id(topic)
            if len(payload) > MAX_PAYLOAD:
                raise _Refused("too_large", f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD}")
            try:
                body = json.loads(payload.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise _Refused("bad_json", f"payload is not JSON: {exc}") from None
            if not isinstance(body, dict):
                raise _Refused("not_object", f"payload must be a JSON object, got {type(body).__name__}")
            if isinstance(body.get("request_id"), int) and not isinstance(body.get("request_id"), bool):
                body["request_id"] = str(body["request_id"])
            request_id = _text(body, "request_id", 200)
            raw_action = body.get("action")
            if not isinstance(raw_action, str) or not raw_action:
                raise _Refused("unknown_action", f"action is missing; actions: {', '.join(ACTIONS)}")
            if not _is_text(raw_action):
                raise _Refused("bad_field", _NOT_TEXT.format(key="action"))
            action = raw_action[:64]
            unknown = sorted(_sendable(key) for key in set(body) - set(FIELDS))
            if unknown:
                raise _Refused(
                    "bad_field", f"unknown field(s) {', '.join(unknown)}; fields: {', '.join(FIELDS)}"
                )
            check_action(action)
            actor = self._actor(topic, _text(body, "actor", 100))
            override = body.get("override", False)
            if not isinstance(override, bool):
                raise _Refused("bad_field", f"override must be true or false, got {type(override).__name__}")
            change = self.engine.act(
                case_id, action, actor, _text(body, "note"),
                assignee=_text(body, "assignee", 64), merge_into=_text(body, "merge_into", 64),
                extend_by=self._seconds(body.get("extend_by")), override=override,
            )  # fmt: skip
            return Reply(True, case_id, action, request_id, change.state, change.number)
        except _Refused as exc:
            return Reply(False, case_id, action, request_id, error=exc.error, reason=exc.reason)
        except CaseError as exc:
            state, number = self._state_of(case_id) if not isinstance(exc, UnknownAction) else (None, None)
            return Reply(False, case_id, action, request_id, state, number, error=exc.code, reason=exc.reason)
        except Exception as exc:  # a database outage, a bug: the reply says so, the daemon lives on
            log.exception("case command on %s failed", topic)
            reason = f"internal error: {type(exc).__name__}; the command was not applied"
            return Reply(False, case_id, action, request_id, error="internal", reason=reason)

    def _actor(self, topic: str, named: str | None) -> Actor:
        """Who sends: the topic's user on a person's own topic (the broker vouches for it), else the named
        roster person or the command platform."""
        command = self.topics.parse_command(topic)
        sender = command.sender if command is not None else None
        if sender is not None and named is not None and named != sender:
            raise _Refused(
                "forbidden", f"{sender} may not act as {named!r}: on its own topic, the actor is {sender}"
            )
        if sender is not None and sender == COMMAND_PLATFORM:
            raise _Refused(
                "forbidden", "the command platform sends on commands/cases/..., not on a person's topic"
            )
        person = sender or named
        if not person or not person.strip():
            raise _Refused(
                "missing_actor", "actor is missing: say who acts (a roster id or command-platform)"
            )
        actor = self.actor(person)
        if actor is None:
            raise _Refused("unknown_actor", f"unknown actor {person!r}: not on the roster")
        return actor

    def handle_and_queue(self, topic: str, payload: bytes) -> Reply:
        """`handle_command`, then queue the reply in the outbox (after the case message it answers)."""
        reply = self.handle_command(topic, payload)
        try:
            with self.engine.session_factory.begin() as s:
                s.add(OutboxRow(topic=self.reply_topic_for(topic), payload=reply.to_json().decode("utf-8"), qos=1,
                                retain=False, alert_id=None, created_at=self.engine.now(), attempts=0))  # fmt: skip
        except Exception:
            log.exception("cannot queue the reply to a case command on %s", topic)
        return reply

    def busy_reply(self, topic: str, payload: bytes) -> tuple[str, bytes] | None:
        """The reply to a command dropped unread because too many are waiting (`MqttPublisher.subscribe`'s
        `when_full`): error "busy", when the command has a request_id to answer; else None (the publisher
        logs the burst). No database work: it runs on the MQTT client's network thread."""
        if len(payload) > MAX_PAYLOAD:
            return None
        try:
            body = json.loads(payload)
        except ValueError:  # UnicodeDecodeError included
            return None
        if not isinstance(body, dict):
            return None
        request_id = body.get("request_id")
        if isinstance(request_id, int) and not isinstance(request_id, bool):
            request_id = str(request_id)
        if not isinstance(request_id, str) or not request_id or len(request_id) > 200:
            return None
        command = self.topics.parse_command(topic)
        case_id = command.case_id[:64] if command is not None else None
        action = body.get("action")
        reason = "too many commands are waiting; the command was not applied: send it again later"
        reply = Reply(False, case_id, action[:64] if isinstance(action, str) else None, request_id,
                      error="busy", reason=reason)  # fmt: skip
        return self.reply_topic_for(topic), reply.to_json()

    def _case_id(self, topic: str) -> str:
        command = self.topics.parse_command(topic)
        sender = command.sender or "" if command is not None else ""
        if (
            command is None or len(command.case_id) > 64 or not _is_text(command.case_id)
            or len(sender) > 64 or not _is_text(sender)
        ):  # fmt: skip
            expected = self.topics.command("<case_id>")
            raise _Refused("bad_topic", f"expected a topic {expected}, got {topic[:200]!r}")
        return command.case_id

    @staticmethod
    def _seconds(value: Any) -> float | None:
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise _Refused("bad_field", f"extend_by: {exc}") from None
        if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > MAX_EXTEND_S:
            seconds = float(MAX_EXTEND_S + 1)  # refused below; a huge int does not fit a float
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise _Refused("bad_field", f"extend_by must be seconds or a duration like '2h', got {value!r}")
        if seconds <= 0:
            raise _Refused("bad_field", f"extend_by must be positive, got {value!r}")
        if seconds > MAX_EXTEND_S:
            raise _Refused(
                "bad_field", f"extend_by is more than {MAX_EXTEND_S} seconds (365 days), got {value!r}"
            )
        return float(seconds)

    def _state_of(self, case_id: str | None) -> tuple[str | None, int | None]:
        if case_id is None:
            return None, None
        try:
            info = self.engine.get(case_id)
        except Exception:
            return None, None
        return (info.state, info.number) if info is not None else (None, None)
