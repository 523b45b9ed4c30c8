"""`sentinel users add | passwd | list | set | token`: console users, their roles and API tokens.

They work on the daemon's database (`database.url`, else SQLite under `storage.data_dir`; created and migrated
when missing, so the first admin can be added before the first `sentinel run`). Passwords are asked for
twice without echo, or read from the first line of standard input with `--password-stdin`; they are never
taken from the command line (where `ps` and the shell history would show them) and never printed.
Exit 2 for a config problem, 1 for anything else; never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sentinel.cli.common import EXIT_CONFIG, EXIT_RUNTIME, CliError, config_parent

ROLES = ("operator", "technician", "admin", "grid_worker")
USERS_SECTIONS = ("database", "storage", "console")  # the database, where it lives, token_lifetime


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's subcommands to the `sentinel` parser."""
    common = config_parent()
    users = sub.add_parser("users", help="console users: add, change passwords, list, roles, API tokens")
    us = users.add_subparsers(dest="users_command", required=True)

    p = us.add_parser("add", parents=[common], help="add a user (asks for the password)")
    p.add_argument("username")
    p.add_argument(
        "--role", required=True, choices=ROLES,
        help="operator, technician, admin, or grid_worker (field staff: the phone page /m/)",
    )  # fmt: skip
    p.add_argument("--name", default="", help="display name, e.g. 王伟")
    p.add_argument(
        "--roster-id", metavar="P", help="grid_worker: the roster person this user is (roster.yaml people:)"
    )
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_add)

    p = us.add_parser(
        "passwd",
        parents=[common],
        help="set a user's password (their sessions end, their API tokens are revoked)",
    )
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_passwd)

    p = us.add_parser("list", parents=[common], help="list users and their roles")
    p.set_defaults(func=cmd_list)

    p = us.add_parser(
        "set", parents=[common],
        help="change a user's role, name, or (de)activate them (--disable revokes their API tokens)",
    )  # fmt: skip
    p.add_argument("username")
    p.add_argument("--role", choices=ROLES)
    p.add_argument("--name")
    p.add_argument("--roster-id", metavar="P", help="grid_worker: the roster person this user is")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--disable", action="store_true", help="the user can no longer sign in")
    group.add_argument("--enable", action="store_true")
    p.set_defaults(func=cmd_set)

    p = us.add_parser("token", parents=[common], help="create, list or revoke API bearer tokens")
    p.add_argument("username", nargs="?", help="whose token (create, --list)")
    p.add_argument("--name", help="create: what the token is for, e.g. prometheus")
    p.add_argument(
        "--expires-days", type=int,
        help="create: valid this many days (default and most: console.token_lifetime, 90 days)",
    )  # fmt: skip
    p.add_argument("--list", action="store_true", help="list tokens (of USERNAME, or everyone's)")
    p.add_argument("--revoke", type=int, metavar="ID", help="revoke the token with this id")
    p.set_defaults(func=cmd_token)


@contextmanager
def _users(config_path: Path) -> Iterator[Any]:
    """The `Users` service on the configured database (migrated); CliError for anything that goes wrong."""
    from sentinel.config.loader import ConfigError, load_config
    from sentinel.console.users import Users
    from sentinel.storage.db import DatabaseError, DatabaseUrlError, open_database

    try:
        # only what users need: no camera, MQTT or webhook section, so none of their secrets' variables
        config = load_config(config_path, sections=USERS_SECTIONS)
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_CONFIG) from None
    try:
        database = open_database(config.database, config.storage.data_dir)
    except DatabaseUrlError as exc:
        raise CliError(str(exc), EXIT_CONFIG) from None
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    with database:
        yield Users(database.sessions, token_lifetime=timedelta(seconds=config.console.token_lifetime))


def _roster(config_path: Path) -> Any:
    """The configured roster (grid.roster), None when there is none; CliError when it does not load."""
    from sentinel.cases.roster import load_roster
    from sentinel.config.loader import ConfigError, load_config
    from sentinel.geo.grid_file import load_cells

    try:
        grid = load_config(config_path, sections=("grid",)).grid
        cells = load_cells(grid.cells) if grid.cells is not None else None
        return load_roster(grid.roster, cells) if grid.roster is not None else None
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_CONFIG) from None


def _check_roster_id(args: argparse.Namespace, role: str, roster_id: str | None) -> None:
    from sentinel.console.users import check_roster_id

    needed = role == "grid_worker" or roster_id
    check_roster_id(role, roster_id, _roster(args.config) if needed else None)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def _run(args: argparse.Namespace, body: Any) -> int:
    from sentinel.console.users import UserError

    try:
        with _users(args.config) as users:
            body(users)
        return 0
    except (CliError, UserError) as exc:
        print(f"sentinel users: {exc}", file=sys.stderr)
        return exc.code if isinstance(exc, CliError) else EXIT_RUNTIME
    except Exception as exc:  # the database went away, a disk error, ...
        print(f"sentinel users: {type(exc).__name__}: {_first_line(exc)}", file=sys.stderr)
        return EXIT_RUNTIME


def _password(args: argparse.Namespace, username: str) -> str:
    from sentinel.console.passwords import password_problem

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise CliError("no terminal to ask for the password: use --password-stdin")
        password = getpass.getpass(f"password for {username}: ")
        if getpass.getpass("again: ") != password:
            raise CliError("the two passwords differ")
    problem = password_problem(password, username)
    if problem:
        raise CliError(problem)
    return password


def cmd_add(args: argparse.Namespace) -> int:
    def body(users: Any) -> None:
        _check_roster_id(args, args.role, args.roster_id)
        password = _password(args, args.username)
        user = users.add(args.username, password, args.role, args.name, roster_id=args.roster_id)
        bound = f", roster person {user.roster_id}" if user.roster_id else ""
        print(f"added {user.username} ({user.role}{bound})")

    return _run(args, body)


def cmd_passwd(args: argparse.Namespace) -> int:
    def body(users: Any) -> None:
        if users.get(args.username) is None:
            raise CliError(f"no user {args.username!r}")
        users.set_password(args.username, _password(args, args.username))
        print(
            f"password of {args.username} changed; their sessions have ended and their API tokens are revoked"
        )

    return _run(args, body)


def cmd_list(args: argparse.Namespace) -> int:
    def body(users: Any) -> None:
        everyone = users.all()
        if not everyone:
            print("no users (add one: sentinel users add NAME --role admin)")
            return
        rows = [["USER", "ROLE", "ROSTER", "ACTIVE", "NAME"]]
        rows += [
            [u.username, u.role, u.roster_id or "-", "yes" if u.active else "no", u.display_name]
            for u in everyone
        ]
        print(_table(rows))

    return _run(args, body)


def cmd_set(args: argparse.Namespace) -> int:
    def body(users: Any) -> None:
        active = True if args.enable else False if args.disable else None
        if args.role is None and args.name is None and active is None and args.roster_id is None:
            raise CliError("nothing to change: give --role, --name, --roster-id, --enable or --disable")
        before = users.get(args.username)
        if before is not None and (args.role is not None or args.roster_id is not None):
            role = args.role or before.role
            roster_id = args.roster_id if args.roster_id is not None else before.roster_id
            _check_roster_id(args, role, roster_id if role == "grid_worker" else args.roster_id)
        user = users.update(
            args.username, role=args.role, active=active, display_name=args.name, roster_id=args.roster_id
        )
        print(f"{user.username}: {user.role}, {'active' if user.active else 'disabled'}")

    return _run(args, body)


def cmd_token(args: argparse.Namespace) -> int:
    def body(users: Any) -> None:
        if args.revoke is not None:
            info = users.revoke_token(args.revoke, "revoked with sentinel users token --revoke")
            print(f"token {info.id} ({info.name}) of {info.username} revoked")
            return
        if args.list:
            tokens = users.tokens(args.username)
            rows = [["ID", "USER", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "STATE"]]
            for t in tokens:
                rows.append([
                    str(t.id), t.username, t.name, t.prefix + "…", _day(t.created_at), _day(t.expires_at),
                    _day(t.last_used_at), t.state,
                ])  # fmt: skip
            print(_table(rows) if tokens else "no tokens")
            return
        if not args.username or not args.name:
            raise CliError("to create a token give USERNAME and --name (or use --list / --revoke ID)")
        expires = timedelta(days=args.expires_days) if args.expires_days else None
        if args.expires_days is not None and args.expires_days < 1:
            raise CliError("--expires-days must be at least 1")
        token, info = users.create_token(args.username, args.name, expires)
        print(token)
        print(
            f"token {info.id} ({info.name}) for {args.username}, valid until {_day(info.expires_at)} UTC: "
            "shown this once; send it as 'Authorization: Bearer <token>'",
            file=sys.stderr,
        )

    return _run(args, body)


def _day(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
