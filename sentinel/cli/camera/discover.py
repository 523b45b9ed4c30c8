"""`sentinel camera discover`: WS-Discovery probe; list what answers, marking cameras already registered."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sentinel.cli.camera.common import fail, host_port, raw_cameras
from sentinel.cli.common import DEFAULT_CONFIG, EXIT_USAGE, CliError, plural


def cmd_discover(args: argparse.Namespace) -> int:
    from sentinel.ingest.ws_discovery import discover

    try:
        target = host_port(args.target, 3702) if args.target else None
        registered = registered_hosts(args.config or DEFAULT_CONFIG, explicit=args.config is not None)
        try:
            result = discover(timeout=args.timeout, interface=args.interface, target=target)
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        except OSError as exc:
            raise CliError(f"cannot send the WS-Discovery probe: {exc.strerror or exc}") from None
    except CliError as exc:
        return fail(exc)
    where = (
        f"{target[0]}:{target[1]}"
        if target
        else "239.255.255.250:3702" + (f" via {args.interface}" if args.interface else "")
    )
    if not result.devices:
        print(f"no ONVIF device answered within {args.timeout:g} s (probe to {where})")
    else:
        rows = [("ADDRESS", "NAME", "HARDWARE", "XADDRS", "REGISTERED")]
        for d in result.devices:
            known = sorted({registered[h] for h in d.hosts if h in registered})
            rows.append(
                (
                    d.address,
                    d.name or "-",
                    d.hardware or "-",
                    " ".join(d.xaddrs) or "-",
                    ", ".join(known) or "-",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[4])
        n_known = sum(1 for r in rows[1:] if r[4] != "-")
        print(
            f"{plural(len(result.devices), 'device')} answered (probe to {where}); {n_known} already registered"
        )
    for reason in dict.fromkeys(result.ignored):
        print(f"ignored an answer from {reason}", file=sys.stderr)
    return 0


def source_host(source: Any) -> str | None:
    """The network host a camera entry's `source` talks to, as its source kind reads it; None for files."""
    from sentinel.ingest.source import SourceError
    from sentinel.ingest.sources import source_for

    if isinstance(source, dict):  # a future `source: {onvif: {host: ...}}`
        inner = next(iter(source.values()), None)
        return str(inner.get("host")) if isinstance(inner, dict) and inner.get("host") else None
    if not isinstance(source, str):
        return None
    try:
        return source_for(source).host()
    except SourceError:
        return None


def registered_hosts(config: Path, explicit: bool) -> dict[str, str]:
    if not explicit and not config.is_file():
        return {}
    hosts: dict[str, str] = {}
    for cam in raw_cameras(config):
        host = source_host(cam.get("source"))
        if host:
            hosts.setdefault(host, str(cam.get("id", "?")))
    return hosts


def add_discover(cam_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = cam_sub.add_parser("discover", help="find ONVIF cameras with a WS-Discovery probe")
    p.add_argument("--interface", metavar="IF", help="network interface (name or its IPv4 address)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to collect answers (3)")
    p.add_argument(
        "--target", metavar="HOST[:PORT]", help="probe one address by unicast (port 3702 unless given)"
    )
    p.add_argument("--config", type=Path, help=f"mark cameras registered here (default {DEFAULT_CONFIG})")
    p.set_defaults(func=cmd_discover)
