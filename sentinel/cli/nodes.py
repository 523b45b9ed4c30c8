"""`sentinel nodes`: the nodes of a cluster (PostgreSQL), the cameras each holds with lease ages, who leads,
and cameras no node holds. Exit 2 for a config problem (or a SQLite config: no cluster), 1 for anything else.
"""

from __future__ import annotations

import argparse
import json
import sys

from sentinel.cli.common import EXIT_CONFIG, EXIT_RUNTIME, add_config_option, plural


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("nodes", help="cluster nodes (PostgreSQL): their cameras, lease ages, the leader")
    add_config_option(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_nodes)


def held(count: int, most: int) -> str:
    """ "1 camera", "3 cameras", "2/4 cameras" (of at most `most`; 0: no limit), "1/1 camera"."""
    if not most:
        return plural(count, "camera")
    return f"{count}/{most} {'camera' if most == 1 else 'cameras'}"


def cmd_nodes(args: argparse.Namespace) -> int:
    from sentinel.cluster.overview import cluster_overview
    from sentinel.config.loader import ConfigError, load_config
    from sentinel.storage.db import DatabaseError, DatabaseUrlError, migrate, open_database

    try:
        config = load_config(args.config, sections=("database", "storage"))  # not the secrets it does not use
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    if not config.database.url:
        print(
            f"{args.config}: database.url is not set: a single node on SQLite, there is no cluster",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        database = open_database(config.database, config.storage.data_dir, upgrade=False)
    except DatabaseError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, DatabaseUrlError) else EXIT_RUNTIME
    with database:
        if database.dialect != "postgresql":
            print(f"{args.config}: nodes share cameras through PostgreSQL only; database.url is {database.dialect}",
                  file=sys.stderr)  # fmt: skip
            return EXIT_CONFIG
        try:
            migrate(database.engine)
            overview = cluster_overview(database.engine)
        except Exception as exc:
            print(f"cannot read the cluster: {type(exc).__name__}: {_first_line(exc)}", file=sys.stderr)
            return EXIT_RUNTIME
    if args.json:
        print(
            json.dumps(
                {"nodes": overview.as_dicts(), "unowned": overview.unowned}, ensure_ascii=False, indent=2
            )
        )
        return 0
    if not overview.nodes:
        print("no node has joined yet")
    for n in overview.nodes:
        state = "stopped" if n.node.stopped else ("alive" if n.node.alive else "silent")
        lead = "  leader" if n.leader else ""
        print(
            f"{n.node.id:<16} {state:<8} {held(len(n.leases), n.node.max_cameras)}  "
            f"renewed {n.node.heartbeat_age:.1f} s ago  "
            f"{n.node.host} pid {n.node.pid}{lead}"
        )
        for lease in n.leases:
            age = f"{lease.age:.0f} s" if lease.age is not None else "-"
            expires = f"{lease.expires_in:.1f} s" if lease.expires_in is not None else "-"
            print(f"    {lease.camera_id:<24} epoch {lease.epoch:<4} held {age:<8} expires in {expires}")
    if overview.unowned:
        print(f"unowned ({len(overview.unowned)}): {', '.join(overview.unowned)}")
    return 0


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]
