"""Command line: `sentinel run | check | demo`.

Every failure an operator can cause (bad config, missing model, broker port taken, ...) ends with a clear
message on stderr and a non-zero exit, never a traceback: 2 for config problems, 1 for runtime ones.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sentinel import __version__
from sentinel.cli.common import DEFAULT_CONFIG, EXIT_CONFIG, EXIT_RUNTIME
from sentinel.config.loader import ConfigError, ConfigSource, load_config_source
from sentinel.config.models import SentinelConfig

if TYPE_CHECKING:
    from sentinel.daemon.services import Services

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "data" / "demo.yaml"
DEMO_FOOTAGE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


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
    print(f"{args.config}: OK: site {config.site.id}, {len(config.cameras)} cameras, {rules} rules")
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
    return _run(args.config, args.log_level)


def cmd_demo(args: argparse.Namespace) -> int:
    footage = Path(os.environ.setdefault("SENTINEL_DEMO_FOOTAGE", str(DEMO_FOOTAGE)))
    if not footage.is_file():
        print(
            f"demo footage not found: {footage} (install Debian's opencv-doc, or set SENTINEL_DEMO_FOOTAGE)",
            file=sys.stderr,
        )
        return EXIT_RUNTIME
    os.environ.setdefault("SENTINEL_DEMO_DATA", str(Path.cwd() / "var" / "demo"))
    return _run(DEMO_CONFIG, args.log_level, demo=True)


def _demo_login(services: Services) -> None:
    """The demo's console needs someone to sign in: create `demo` (admin) once, with a random password
    written to a file only its owner can read (never printed or logged)."""
    import secrets

    from sentinel.console.users import Users
    from sentinel.storage.db import session_factory
    from sentinel.storage.private import write_private

    config = services.config
    if not config.console.enabled:
        return
    users = Users(session_factory(services.store.engine))
    login_file = config.storage.data_dir / "demo-login.txt"
    if not users.all():
        password = secrets.token_urlsafe(12)
        users.add("demo", password, "admin", "Demo operator")
        write_private(login_file, f"user: demo\npassword: {password}\n".encode())  # 0600 from the start
    logging.getLogger("sentinel.demo").info(
        "console: http://%s:%d/ (sign-in for user 'demo' in %s)",
        config.console.host,
        config.console.port,
        login_file,
    )


def _run(config_path: Path, log_level: str, demo: bool = False) -> int:
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
    try:
        supervisor.start()
        if demo:
            _demo_login(services)
    except StartupError as exc:
        print(f"sentinel: {exc}", file=sys.stderr)
        supervisor.stop()
        return EXIT_RUNTIME
    try:
        supervisor.run(stop)
    finally:
        supervisor.stop()
    return 0


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

    p = sub.add_parser("demo", help="run on the sample footage with the embedded defaults")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_demo)

    from sentinel.cli import camera, cases, nodes, replay, users

    for module in (camera, cases, nodes, replay, users):
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
