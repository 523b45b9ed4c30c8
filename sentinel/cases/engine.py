"""The case engine: alerts become grid cases, commands move them through the lifecycle, timers remind and
escalate, the camera verifies.

Every change is one transaction: the case row, its transition row(s), the outbox row that announces it on
`{prefix}/cases/{grid_code}/{case_id}`, its webhook delivery if configured, `alerts.case_id` of joined alerts.
Nothing is sent from here: the outbox publisher and the webhook sender send what was committed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from sentinel.alerts.models import AlertRow
from sentinel.alerts.schema import Alert
from sentinel.cases import calendar as deadlines
from sentinel.cases import extensions
from sentinel.cases import steps as rows
from sentinel.cases.announce import CaseChange, announce
from sentinel.cases.authority import Actor, check_allowed, grants_time, override_reason
from sentinel.cases.models import (
    CONTACT_FIELDS,
    SYSTEM,
    CaseAlertRow,
    CaseRow,
    CaseTimerRow,
)
from sentinel.cases.routing import Routing
from sentinel.cases.state_machine import (
    OPEN,
    BadRequest,
    ConcurrentChange,
    State,
    UnknownCase,
    check_action,
    next_state,
)
from sentinel.cases.steps import find_case
from sentinel.cases.webhook.queue import WebhookQueue
from sentinel.config.event_types import EventType
from sentinel.config.models import CasesConfig
from sentinel.mqtt.topics import Topics

log = logging.getLogger(__name__)


class CaseEngine:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        event_types: Mapping[str, EventType],
        clock: Callable[[], datetime],
        prefix: str,
        *,
        config: CasesConfig | None = None,
        tz: ZoneInfo | str = "Asia/Shanghai",
        webhook: WebhookQueue | None = None,
    ) -> None:
        self.session_factory = self._session = session_factory
        self.event_types = dict(event_types)
        self.topics = Topics(prefix.rstrip("/"))
        self.config = config or CasesConfig()
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.policy = deadlines.DeadlinePolicy(
            self.config, deadlines.WorkingCalendar.from_config(self.config, self.tz)
        )
        self._clock = clock
        self.webhook = webhook  # None: no `webhook:` section; else each change also queues a delivery
        self._lock = threading.RLock()  # one change at a time (MQTT commands arrive on another thread)

    def now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the clock must return time-zone aware datetimes")
        return now.astimezone(UTC)

    # ---------------------------------------------------------------- alerts

    def on_alert(self, alert: Alert, routing: Routing | None, confirmed: bool = False) -> CaseChange:
        """File a stored alert: join the open case of its type at the same place, or open a new one
        (registered and dispatched at once for auto-register types or `confirmed`, else pending_review)."""
        event_type = self.event_types.get(alert.event_type)
        if event_type is None:
            raise BadRequest(f"unknown event type {alert.event_type!r}")
        now = self.now()
        detected = datetime.fromisoformat(alert.detected_at)
        with self._lock, self._transaction() as s:
            if s.get_bind().dialect.name == "postgresql":
                # nodes filing alerts of one type at once would each miss the other's new case and open
                # two: one at a time per event type, cluster-wide (held until the transaction ends)
                s.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"case:{alert.event_type}"}
                )
            if s.get(AlertRow, alert.alert_id) is None:
                raise BadRequest(f"alert {alert.alert_id} is not stored (record it with AlertStore first)")
            owner = s.scalar(select(CaseAlertRow.case_id).where(CaseAlertRow.alert_id == alert.alert_id))
            if owner is not None:
                raise BadRequest(f"alert {alert.alert_id} already belongs to case {owner}")
            r = routing or Routing()
            grid = r.grid_code or (alert.grid.grid if alert.grid else None)
            here = alert.location
            case = rows.open_case_at(
                s, alert.event_type, alert.camera_id, alert.zone, grid,
                (here.lon, here.lat) if here else None, self.config.join_radius_m,
            )  # fmt: skip
            if case is not None:
                from_state = case.state
                rows.attach_alert(s, case, alert.alert_id, now, detected)
                where = "same camera and zone" if case.camera_id == alert.camera_id else "nearby in the grid"
                rows.step(s, case, now, "join", SYSTEM, case.state, f"alert {alert.alert_id} ({where})")
                action = "join"
                if confirmed and case.state == State.pending_review:
                    self._confirm(s, case, now, SYSTEM, "confirmed with a new alert")
                    action = "confirm"
                return self._emit(s, case, now, action, SYSTEM, from_state)
            case = rows.new_case(s, event_type, alert, r, grid, now)
            rows.attach_alert(s, case, alert.alert_id, now, detected)
            register = event_type.auto_register or confirmed
            why = "auto-registered event type" if event_type.auto_register else "confirmed alert"
            first = State.registered if register else State.pending_review
            note = f"alert {alert.alert_id}" + (f"; {why}" if register else "")
            rows.step(s, case, now, "create", SYSTEM, first, note, from_state=None)
            if register:
                self._route(s, case, now)
            return self._emit(s, case, now, "create", SYSTEM, None, created=True)

    def get(self, case_ref: str) -> CaseRow | None:
        """A case (detached) by id or number."""
        with self._session() as s:
            return find_case(s, case_ref)

    def case_for_alert(self, alert_id: str) -> str | None:
        """The case an alert is filed under (after a merge: the case it was merged into)."""
        with self._session() as s:
            return s.scalar(select(AlertRow.case_id).where(AlertRow.id == alert_id))

    # ---------------------------------------------------------------- commands

    def act(
        self,
        case_id: str,
        action: str,
        actor: Actor | str,
        note: str | None = None,
        *,
        assignee: str | None = None,
        merge_into: str | None = None,
        extend_by: float | None = None,
        override: bool = False,
    ) -> CaseChange:
        """Apply an action (`state_machine.TRANSITIONS`) if `actor` may (`authority`), else a `CaseError`
        with the reason. A plain string is a trusted local caller's (`Actor.local`); the MQTT intake passes
        the roster's `Actor`. `override`: a leader closes unverified, the reason in `note`."""
        check_action(action)
        who = actor if isinstance(actor, Actor) else Actor.local(actor)
        if not who.id or not who.id.strip():
            raise BadRequest("actor is missing: say who acts")
        now = self.now()
        with self._lock, self._transaction() as s:
            case = find_case(s, case_id, lock=True)
            if case is None:
                raise UnknownCase(f"no case {case_id!r}")
            check_allowed(who, action, case, override=override, feedback_by=rows.feedback_by(s, case))
            new = next_state(str(case.number), case.state, action, case.resume_state, override)
            from_state, actor_id = case.state, who.id
            if override:
                note = f"verification overridden by {who.id}: {override_reason(note)}"
            if action == "confirm":
                self._confirm(s, case, now, actor_id, note)
            elif action == "dispatch":
                self._dispatch(s, case, now, actor_id, note, assignee)
            elif action == "extend":
                if not grants_time(who, case):
                    extensions.request(s, case, now, actor_id, note, extend_by)
                    return self._emit(s, case, now, "extend_request", actor_id, case.state)
                extensions.grant(s, self.policy, case, now, actor_id, note, extend_by)
            elif action == "deny_extension":
                extensions.deny(s, case, now, actor_id, note)
            elif action == "feedback":
                self._feedback(s, case, now, actor_id, note)
            elif action == "verify":
                rows.step(s, case, now, action, actor_id, new, note)
                self._start_camera_check(s, case, now)
            elif action == "close":
                rows.close(s, case, now, actor_id, note)
            elif action == "rework":
                self._rework(s, case, now, actor_id, note)
            elif action == "merge":
                self._merge(s, case, now, actor_id, note, merge_into)
            else:  # reject, accept, return, suspend, resume
                if action in ("reject", "return"):
                    rows.cancel_timers(s, case)
                    case.deadline_at = None
                elif action == "suspend":
                    deadlines.stop_clock(s, self.policy, case, now)
                elif action == "resume":
                    deadlines.restart_clock(s, self.policy, case, now)
                rows.step(s, case, now, action, actor_id, new, note)
            if new not in (State.accepted, State.rework, State.extended):
                case.extension_request_s = case.extension_requested_by = None
            return self._emit(s, case, now, action, actor_id, from_state)

    def _confirm(self, s: Session, case: CaseRow, now: datetime, actor: str, note: str | None) -> None:
        rows.step(s, case, now, "confirm", actor, State.registered, note)
        self._route(s, case, now)

    def _route(self, s: Session, case: CaseRow, now: datetime) -> None:
        """Dispatch a registered case by the roster; with nobody on it the case waits for a `dispatch`."""
        if any(rows.contacts(case)):
            self._dispatch(s, case, now, SYSTEM, "routed by the grid roster", None)

    def _dispatch(
        self, s: Session, case: CaseRow, now: datetime, actor: str, note: str | None, assignee: str | None
    ) -> None:
        level = self.policy.first_level(case.severity, rows.contacts(case))
        if assignee:  # the named person holds the case at the severity's first level
            level = self.policy.first_level(case.severity, [assignee] * len(CONTACT_FIELDS))
            setattr(case, CONTACT_FIELDS[level], assignee)
        elif not any(rows.contacts(case)):
            raise BadRequest(f"case {case.number} has nobody on the roster to dispatch to: give an assignee")
        case.dispatched_at = now
        case.command_platform = case.command_platform or case.severity == "urgent"
        deadlines.enter_level(s, self.policy, case, now, level)
        case.due_at = case.deadline_at
        rows.step(s, case, now, "dispatch", actor, State.dispatched, note)

    def _feedback(self, s: Session, case: CaseRow, now: datetime, actor: str, note: str | None) -> None:
        rows.cancel_timers(s, case)
        rows.step(s, case, now, "feedback", actor, State.feedback, note)
        if self.config.camera_verification and case.camera_id:
            note = f"camera {case.camera_id} re-checks the place"
            rows.step(s, case, now, "verify", SYSTEM, State.verifying, note)
            self._start_camera_check(s, case, now)

    def _start_camera_check(self, s: Session, case: CaseRow, now: datetime) -> None:
        if not (self.config.camera_verification and case.camera_id) or case.verify_started_at is not None:
            return
        case.verify_round += 1
        case.verify_started_at, case.verify_result, case.verify_last_at = now, None, None
        case.verify_clear_count, case.verify_active_count = 0, 0
        case.verify_clear_since = case.verify_active_since = None
        due = self.policy.add(now, self.config.verify_timeout, False)
        rows.add_timer(s, case, "verify_timeout", case.verify_round, due, now)

    def _rework(self, s: Session, case: CaseRow, now: datetime, actor: str, note: str | None) -> None:
        rows.cancel_timers(s, case)
        case.rework_count += 1
        case.verify_started_at = None
        deadlines.enter_level(s, self.policy, case, now, case.escalation_level)
        rows.step(s, case, now, "rework", actor, State.rework, note)

    def _merge(
        self, s: Session, case: CaseRow, now: datetime, actor: str, note: str | None, merge_into: str | None
    ) -> None:
        if not merge_into:
            raise BadRequest(f"merge needs merge_into: the case that case {case.number} joins")
        target = find_case(s, merge_into, lock=True)
        if target is None:
            raise UnknownCase(f"no case {merge_into!r} to merge case {case.number} into")
        if target.id == case.id or target.state not in OPEN:
            raise BadRequest(f"case {case.number} cannot merge into case {target.number} ({target.state})")
        moved = rows.move_alerts(s, case, target, now)
        rows.step(
            s, target, now, "join", actor, target.state, f"case {case.number} merged in ({moved} alerts)"
        )
        self._emit(s, target, now, "join", actor, target.state)
        rows.cancel_timers(s, case)
        case.merged_into, case.deadline_at = target.id, None
        rows.step(s, case, now, "merge", actor, State.merged, note or f"merged into case {target.number}")

    # ---------------------------------------------------------------- output

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """One change, one transaction; a lost optimistic-lock race becomes ConcurrentChange."""
        try:
            with self._session.begin() as s:
                yield s
        except StaleDataError:
            raise ConcurrentChange(
                "the case was changed by someone else at the same moment; try again"
            ) from None

    def _emit(
        self, s: Session, case: CaseRow, now: datetime, action: str, actor: str, from_state: str | None,
        created: bool = False,
    ) -> CaseChange:  # fmt: skip
        return announce(
            s, case, now, action, actor, from_state, self.topics, self.event_types, self.tz, created,
            self.webhook,
        )  # fmt: skip

    # ---------------------------------------------------------------- timers and the camera

    def tick(self) -> list[CaseChange]:
        """Fire every due timer (reminders, escalations, verification timeouts). After a restart it catches up:
        an escalation counts its next level's time from the deadline that passed, not from now."""
        changes: list[CaseChange] = []
        with self._lock:
            now = self.now()
            for _ in range(10_000):  # each round fires timers; escalations may queue more that are due
                try:
                    with self._session() as s:
                        due = deadlines.due_timers(s, now)
                except Exception:  # the database is away: the timers stay due, the next tick retries
                    log.exception("cannot read case timers")
                    return changes
                if not due:
                    break
                for timer_id in due:
                    try:
                        with self._transaction() as s:
                            change = self._fire(s, timer_id, now)
                    except Exception:  # one bad timer must not stop the others; it stays due and retries
                        log.exception("case timer %d failed", timer_id)
                        return changes
                    if change is not None:
                        changes.append(change)
        return changes

    def _fire(self, s: Session, timer_id: int, now: datetime) -> CaseChange | None:
        # claimed row by row: another node firing the same timer holds the lock (skip it) or already marked
        # it done (read again under the lock): never fired twice, even by a leader that lost its lease
        timer = s.get(CaseTimerRow, timer_id, with_for_update={"skip_locked": True}, populate_existing=True)
        if timer is None or timer.done:
            return None
        timer.done = True
        case = s.get(CaseRow, timer.case_id)
        if case is None:
            return None
        state = case.state
        action = deadlines.fire_timer(s, self.policy, case, timer, now, self.tz)
        return self._emit(s, case, now, action, SYSTEM, state) if action else None

    def on_condition(
        self, camera_id: str, event_type: str, zone: str | None, active: bool, ts: float | datetime
    ) -> list[CaseChange]:
        """A rule's condition report from a camera (repeated every few seconds). For the cases that camera is
        re-checking: N consecutive reports of 'gone' spread over the configured span → verified (closed, or
        handed to an operator for `operator_close_types`); M consecutive reports of 'still there' → rework."""
        if not self.config.camera_verification:
            return []
        at = ts.astimezone(UTC) if isinstance(ts, datetime) else datetime.fromtimestamp(ts, UTC)
        try:
            with self._lock:
                return self._camera_report(camera_id, event_type, zone, active, at)
        except Exception:  # a report lost to a database hiccup is repeated within seconds
            log.exception("camera report %s/%s not counted", camera_id, event_type)
            return []

    def _camera_report(
        self, camera_id: str, event_type: str, zone: str | None, active: bool, at: datetime
    ) -> list[CaseChange]:
        changes: list[CaseChange] = []
        with self._transaction() as s:
            zone_is = CaseRow.zone.is_(None) if zone is None else CaseRow.zone == zone
            cases = s.scalars(
                select(CaseRow).where(
                    CaseRow.camera_id == camera_id, CaseRow.event_type == event_type, zone_is,
                    CaseRow.state == State.verifying.value, CaseRow.verify_started_at.is_not(None),
                    CaseRow.verify_result.is_(None) | (CaseRow.verify_result == "timeout"),
                )
            ).all()  # fmt: skip
            for case in cases:
                verdict = rows.count_report(case, active, at, self.config)
                if verdict is not None:
                    changes.append(self._camera_verdict(s, case, *verdict))
        return changes

    def _camera_verdict(self, s: Session, case: CaseRow, clear: bool, span: float) -> CaseChange:
        now, actor, state = self.now(), f"camera:{case.camera_id}", case.state
        rows.cancel_timers(s, case, ("verify_timeout",))
        if not clear:
            case.verify_result = "still_active"
            note = f"still there: {case.verify_active_count} checks over {span:.0f} s"
            self._rework(s, case, now, actor, note)
            return self._emit(s, case, now, "rework", actor, state)
        case.verify_result = "clear"
        note = f"gone: {case.verify_clear_count} checks over {span:.0f} s"
        if case.event_type in self.config.operator_close_types:
            rows.step(s, case, now, "camera_verified", actor, state, note + "; an operator closes the case")
            return self._emit(s, case, now, "camera_verified", actor, state)
        rows.close(s, case, now, actor, note)
        return self._emit(s, case, now, "close", actor, state)
