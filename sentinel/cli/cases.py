"""`sentinel cases list | show | act | kpis`: grid cases from the command line.

They work on the daemon's database (`database.url`, else SQLite under `storage.data_dir`), with or without a
running daemon: a change made here is queued in the outbox like any other and the daemon's publisher sends it.
Every failure is one line on stderr: exit 2 for a config problem, 1 for anything else; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sentinel.cli.common import EXIT_CONFIG, EXIT_RUNTIME, CliError, config_parent


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's subcommands to the `sentinel` parser."""
    from sentinel.cases.state_machine import ACTIONS, State

    common = config_parent()
    cases = sub.add_parser("cases", help="grid cases: list, show, act on them, KPIs")
    cs = cases.add_subparsers(dest="cases_command", required=True)

    p = cs.add_parser("list", parents=[common], help="list cases, newest first")
    p.add_argument("--state", choices=[s.value for s in State], help="only cases in this state")
    p.add_argument("--grid", help="only cases in this grid cell (15 digits)")
    p.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    p.add_argument("--json", action="store_true", help="print the case payloads as JSON lines")
    p.set_defaults(func=cmd_list)

    p = cs.add_parser("show", parents=[common], help="one case with its full transition log")
    p.add_argument("id", help="case id or number")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = cs.add_parser("act", parents=[common], help="apply an action to a case")
    p.add_argument("id", help="case id or number")
    p.add_argument("action", help=f"one of: {', '.join(ACTIONS)}")
    p.add_argument("--actor", required=True, help="who acts (a roster id, or command-platform)")
    p.add_argument("--note")
    p.add_argument("--assignee", help="dispatch: to whom (default: the routed grid worker)")
    p.add_argument("--merge-into", help="merge: the case this one joins")
    p.add_argument("--extend-by", help="extend: how much more time, e.g. 2h (default: the type's deadline)")
    p.set_defaults(func=cmd_act)

    p = cs.add_parser("kpis", parents=[common], help="on-time closure, closure rate, rework, stage times")
    p.add_argument("--since", type=date.fromisoformat, help="only cases created on or after YYYY-MM-DD")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_kpis)


@contextmanager
def _context(config_path: Path) -> Iterator[Any]:
    """Config, database (migrated) and a case engine; CliError for anything that goes wrong."""
    from sentinel.cases.engine import CaseEngine
    from sentinel.config.event_types import effective_event_types
    from sentinel.config.loader import ConfigError, load_config
    from sentinel.storage.db import DatabaseError, DatabaseUrlError, open_database

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_CONFIG) from None
    try:
        database = open_database(config.database, config.storage.data_dir, create=False)
    except DatabaseUrlError as exc:
        raise CliError(str(exc), EXIT_CONFIG) from None
    except DatabaseError as exc:  # also DatabaseMissing: nothing to read before `sentinel run` made it
        raise CliError(str(exc)) from None
    with database:
        tz = ZoneInfo(config.site.timezone)
        yield CaseEngine(
            database.sessions,
            effective_event_types(config.event_types),
            lambda: datetime.now(UTC),
            config.topic_prefix(),
            config=config.cases,
            tz=tz,
        )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def _run(args: argparse.Namespace, body: Any) -> int:
    from sentinel.cases.state_machine import CaseError

    try:
        with _context(args.config) as engine:
            body(engine)
        return 0
    except CliError as exc:
        print(f"sentinel cases: {exc}", file=sys.stderr)
        return exc.code
    except CaseError as exc:
        print(f"sentinel cases: {exc.reason}", file=sys.stderr)
        return EXIT_RUNTIME
    except Exception as exc:  # the database went away mid-way, a disk error, ...
        print(f"sentinel cases: {type(exc).__name__}: {_first_line(exc)}", file=sys.stderr)
        return EXIT_RUNTIME


def _when(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "-"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


# ---------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from sentinel.cases.models import CaseRow

    def body(engine: Any) -> None:
        q = select(CaseRow).order_by(CaseRow.number.desc()).limit(max(1, args.limit))
        if args.state:
            q = q.where(CaseRow.state == args.state)
        if args.grid:
            q = q.where(CaseRow.grid_code == args.grid)
        with engine.session_factory() as s:
            cases = list(s.scalars(q))
        if args.json:
            for c in cases:
                print(json.dumps(_payload(engine, c), ensure_ascii=False))
            return
        if not cases:
            print("no cases")
            return
        rows = [["NO", "STATE", "TYPE", "GRID", "ASSIGNEE", "LEVEL", "DEADLINE", "ALERTS", "ID"]]
        for c in cases:
            deadline = _when(c.deadline_at, engine.tz) + (" overdue" if c.overdue else "")
            rows.append([
                str(c.number), c.state, c.event_type, c.grid_code or "-", c.assignee or "-",
                str(c.escalation_level), deadline, str(c.alert_count), c.id,
            ])  # fmt: skip
        print(_table(rows))

    return _run(args, body)


def _payload(engine: Any, case: Any) -> dict[str, Any]:
    """The case as the outbox last published it (action and actor of its latest transition)."""
    from sqlalchemy import select

    from sentinel.cases.models import CaseAlertRow, CaseTransitionRow, case_payload

    with engine.session_factory() as s:
        joined = select(CaseAlertRow.alert_id).where(CaseAlertRow.case_id == case.id)
        ids = list(s.scalars(joined.order_by(CaseAlertRow.joined_at, CaseAlertRow.alert_id)))
        last = s.scalars(
            select(CaseTransitionRow)
            .where(CaseTransitionRow.case_id == case.id)
            .order_by(CaseTransitionRow.id.desc())
        ).first()
    event_type = engine.event_types.get(case.event_type)
    action, actor = (last.action, last.actor) if last else ("create", "sentinel")
    return case_payload(case, ids, action, actor, engine.tz, event_type.name_en if event_type else None)


def cmd_show(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from sentinel.cases.models import LEVEL_ROLES, CaseTransitionRow
    from sentinel.cases.state_machine import UnknownCase, allowed_actions

    def body(engine: Any) -> None:
        case = engine.get(args.id)
        if case is None:
            raise UnknownCase(f"no case {args.id!r}")
        with engine.session_factory() as s:
            log = list(
                s.scalars(
                    select(CaseTransitionRow)
                    .where(CaseTransitionRow.case_id == case.id)
                    .order_by(CaseTransitionRow.id)
                )
            )
        payload = _payload(engine, case)
        if args.json:
            payload["transitions"] = [
                {"ts": t.ts.astimezone(engine.tz).isoformat(timespec="seconds"), "actor": t.actor,
                 "action": t.action, "from": t.from_state, "to": t.to_state, "assignee": t.assignee,
                 "level": t.level, "note": t.note}
                for t in log
            ]  # fmt: skip
            print(json.dumps(payload, ensure_ascii=False, indent=2))
            return
        tz = engine.tz
        print(f"case {case.number}  {case.id}")
        print(f"  type       {case.event_type} {case.name} ({case.code}), {case.severity}")
        print(
            f"  state      {case.state}   next: {', '.join(allowed_actions(case.state, case.extension_request_s is not None)) or '-'}"
        )
        print(f"  grid       {case.grid_code or '-'} (community {case.community_code or '-'})")
        print(f"  camera     {case.camera_id or '-'} zone {case.zone or '-'}")
        role = LEVEL_ROLES[case.escalation_level]
        print(f"  assignee   {case.assignee or '-'} ({role}, level {case.escalation_level})")
        overdue = "  OVERDUE" if case.overdue else ""
        print(f"  deadline   {_when(case.deadline_at, tz)} (due {_when(case.due_at, tz)}){overdue}")
        print(f"  alerts     {case.alert_count}: {', '.join(payload['alert_ids'])}")
        print(f"  reworks    {case.rework_count}  extensions {case.extension_count}")
        print("transitions:")
        rows = [["WHEN", "ACTION", "FROM", "TO", "ACTOR", "ASSIGNEE", "NOTE"]]
        for t in log:
            rows.append([
                _when(t.ts, tz), t.action, t.from_state or "-", t.to_state, t.actor, t.assignee or "-",
                (t.note or "").replace("\n", " "),
            ])  # fmt: skip
        print(_table(rows))

    return _run(args, body)


def cmd_act(args: argparse.Namespace) -> int:
    from sentinel.fields import parse_duration

    def body(engine: Any) -> None:
        extend_by = None
        if args.extend_by is not None:
            try:
                extend_by = float(parse_duration(args.extend_by))
            except ValueError as exc:
                raise CliError(f"--extend-by: {exc}") from None
        change = engine.act(
            args.id, args.action, args.actor, args.note,
            assignee=args.assignee, merge_into=args.merge_into, extend_by=extend_by,
        )  # fmt: skip
        who = change.payload.get("assignee") or "-"
        print(
            f"case {change.number}: {change.from_state} → {change.state} ({args.action} by {args.actor}); assignee {who}"
        )

    return _run(args, body)


def cmd_kpis(args: argparse.Namespace) -> int:
    from sentinel.cases.kpis import compute_kpis

    def body(engine: Any) -> None:
        since = datetime.combine(args.since, time(0), tzinfo=engine.tz) if args.since else None
        report = compute_kpis(engine.session_factory, engine.now(), since)
        if args.json:
            print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
            return

        def pct(x: float | None) -> str:
            return "-" if x is None else f"{100 * x:.1f}%"

        tables = (
            ("by grid", report.by_grid),
            ("by community", report.by_community),
            ("by worker", report.by_worker),
        )
        for title, rows in tables:
            table = [[title.upper(), "CASES", "CLOSED", "CLOSURE", "DUE", "DEFERRED", "ON TIME", "ON-TIME %",
                      "REWORK", "ESCALATED"]]  # fmt: skip
            for r in [*rows, report.overall]:
                table.append([
                    r.key, str(r.cases), str(r.closed), pct(r.closure_rate), str(r.due), str(r.deferred),
                    str(r.closed_on_time), pct(r.on_time_rate), str(r.rework_count), str(r.escalated),
                ])  # fmt: skip
            print(_table(table))
            print()
        stages = report.overall.mean_stage_seconds
        print(
            "mean time per stage: " + (", ".join(f"{k} {v / 3600:.1f} h" for k, v in stages.items()) or "-")
        )

    return _run(args, body)
