"""Command line: `sentinel run | check`, and the command groups of the modules next to this one.

Every failure an operator can cause (bad config, missing model, broker port taken, ...) ends with a clear
message on stderr and a non-zero exit, never a traceback: 2 for config problems, 1 for runtime ones.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sentinel import __version__
from sentinel.cli.common import DEFAULT_CONFIG, EXIT_CONFIG, EXIT_RUNTIME, plural
from sentinel.config.loader import ConfigError, ConfigSource, load_config_source
from sentinel.config.models import SentinelConfig

if TYPE_CHECKING:
    from sentinel.daemon.services import Services


def load_checked(path: Path, open_models: bool = False) -> tuple[SentinelConfig, ConfigSource]:
    """The config, checked; with `open_models` every model is also loaded and run once (check, replay)."""
    from sentinel.cli.check import preflight

    config, source = load_config_source(path)
    issues = preflight(config, source, open_models)
    if issues:
        raise ConfigError(issues)
    return config, source


def cmd_check(args: argparse.Namespace) -> int:
    try:
        config, _ = load_checked(args.config, open_models=True)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    rules = sum(len(c.rules) for c in config.cameras)
    cameras = plural(len(config.cameras), "camera")
    print(f"{args.config}: OK: site {config.site.id}, {cameras}, {plural(rules, 'rule')}")
    from sentinel.cli.check import rate_lines, schedule_lines, tile_lines

    for line in [*schedule_lines(config), *rate_lines(config), *tile_lines(config)]:
        print(line)
    if config.mqtt.url is not None:
        from sentinel.ingest.source import mask_url
        from sentinel.mqtt.broker_probe import Probe, anonymous_access

        ca = str(config.mqtt.tls_ca) if config.mqtt.tls_ca is not None else None
        if anonymous_access(config.mqtt.url, ca) is Probe.accepted:
            print(
                f"warning: the broker {mask_url(config.mqtt.url)} accepts anonymous clients: anyone who can "
                "reach it can send case commands (deploy/mosquitto/acl, docs/security.md)"
            )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    return run_daemon(args.config, args.log_level)


def run_daemon(
    config_path: Path,
    log_level: str,
    override: Callable[[SentinelConfig], SentinelConfig] | None = None,
    on_start: Callable[[Services], Callable[[], None]] | None = None,
) -> int:
    """`sentinel run` (and the demo): `override` adjusts the checked config (the demo's --port); `on_start`
    runs once everything is up and returns what to stop at the end."""
    from sentinel.daemon.compose import compose
    from sentinel.daemon.live_reload import ConfigWatcher
    from sentinel.daemon.supervisor import StartupError, Supervisor

    level = getattr(logging, log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config, _ = load_checked(config_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    if override is not None:
        config = override(config)
    from sentinel.config.site_time import use_site_time

    use_site_time(config.site.timezone)  # log lines in site time, like the console and MQTT
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    watched = [config_path] + ([config_path.parent / config.cameras_file] if config.cameras_file else [])
    watcher = ConfigWatcher(watched, lambda: load_checked(config_path)[0])
    try:
        services = compose(config, log_level=level, watcher=watcher)  # the composition root
    except StartupError as exc:
        print(f"sentinel: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    supervisor = Supervisor(services)
    signal.signal(signal.SIGHUP, lambda *_: supervisor.request_reload())
    stop_extra: Callable[[], None] = lambda: None  # noqa: E731
    try:
        supervisor.start()
        if on_start is not None:
            stop_extra = on_start(services)
        else:
            _say_if_no_user(services, config_path)
    except StartupError as exc:
        print(f"sentinel: {exc}", file=sys.stderr)
        supervisor.stop()
        return EXIT_RUNTIME
    try:
        supervisor.run(stop)
    finally:
        stop_extra()
        supervisor.stop()
    return 0


def _say_if_no_user(services: Services, config_path: Path) -> None:
    """Nobody can sign in to a console without users: say so, and how to add the first one."""
    if services.console is None:
        return
    from sentinel.console.users import Users
    from sentinel.storage.db import session_factory

    if not Users(session_factory(services.store.engine)).all():
        logging.getLogger("sentinel").warning(
            "the console at %s has no user yet: add one with `sentinel users add NAME --role admin "
            "--config %s`", services.console.url, config_path,
        )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentinel", description="Surveillance video in, governance alerts out."
    )
    parser.add_argument("--version", action="version", version=f"sentinel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="validate a config file and its camera registry")
    p.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})"
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", help="run the daemon until SIGTERM/SIGINT")
    p.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})"
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_run)

    from sentinel.cli import camera, cases, demo, nodes, replay, users

    for module in (demo, camera, cases, nodes, replay, users):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
