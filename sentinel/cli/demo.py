"""`sentinel demo`: the daemon on the demo config (sentinel/data/demo.yaml) with footage built once from
Debian opencv-doc's imagery, the sample grid and roster, the console with a `demo` login, and the demo grid
worker who answers their cases. Within two minutes: four event types, cases routed with deadlines, a
reminder, an escalation and a case closed by the camera's re-check.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sentinel.cli.common import EXIT_RUNTIME

if TYPE_CHECKING:
    from sentinel.config.models import SentinelConfig
    from sentinel.daemon.services import Services

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "data" / "demo.yaml"
SAMPLE_GRID = Path(__file__).resolve().parents[2] / "config"  # the repository's grid.geojson, roster.yaml
PHONE_USER = "liqiang"  # config/roster.yaml: a worker of both demo grids, who answers from the phone page
DEMO_WORKER = (
    "zhangli",
    "张丽",
)  # config/roster.yaml: grid worker of 天街社区第一网格 (north plaza, east gate)

log = logging.getLogger("sentinel.demo")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run on the demo footage with the sample grid, roster and a grid worker")
    p.add_argument("--port", type=_port, help="console port (default 8080, or a free one if it is taken)")
    p.add_argument("--mqtt-port", type=_port, help="embedded broker port (default 1883, or a free one)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_demo)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (1-65535)")
    return port


def cmd_demo(args: argparse.Namespace) -> int:
    from sentinel.cli.main import run_daemon
    from sentinel.demo.footage import build_footage, footage_dir
    from sentinel.demo.scenes import FootageError

    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format=LOG_FORMAT)
    _site_time_from_the_start()
    data = Path(os.environ.setdefault("SENTINEL_DEMO_DATA", str(Path.cwd() / "var" / "demo")))
    grid = Path(os.environ.setdefault("SENTINEL_DEMO_GRID", str(SAMPLE_GRID)))
    if not (grid / "grid.geojson").is_file() or not (grid / "roster.yaml").is_file():
        print(f"demo: the sample grid is missing: {grid}/grid.geojson and roster.yaml", file=sys.stderr)
        return EXIT_RUNTIME
    given = os.environ.get("SENTINEL_DEMO_FOOTAGE")  # a folder for the built clips (shared by test runs)
    folder = Path(given) if given else footage_dir(data)
    if folder.is_file():
        print(
            f"demo: SENTINEL_DEMO_FOOTAGE must name a folder for the demo's clips, not {folder}",
            file=sys.stderr,
        )
        return EXIT_RUNTIME
    try:
        build_footage(folder)
    except (FootageError, OSError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    os.environ["SENTINEL_DEMO_FOOTAGE"] = str(folder)
    return run_daemon(DEMO_CONFIG, args.log_level, _overrides(args.port, args.mqtt_port), _start_demo)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _site_time_from_the_start() -> None:
    """The footage is built before the daemon sets up its log: its lines too are in the site's time."""
    from sentinel.config.loader import ConfigError, load_config
    from sentinel.config.site_time import use_site_time

    with contextlib.suppress(ConfigError):  # run_daemon reports the demo config's problems, with their lines
        use_site_time(load_config(DEMO_CONFIG, sections=("site",)).site.timezone)


def _overrides(port: int | None, mqtt_port: int | None) -> Callable[[SentinelConfig], SentinelConfig]:
    def apply(config: SentinelConfig) -> SentinelConfig:
        if port is not None:
            config = config.model_copy(update={"console": config.console.model_copy(update={"port": port})})
        if mqtt_port is not None:
            mqtt = config.mqtt.model_copy(update={"embedded_port": mqtt_port})
            config = config.model_copy(update={"mqtt": mqtt})
        return config

    return apply


def _start_demo(services: Services) -> Callable[[], None]:
    """After the daemon started: the console login, the demo grid worker, and what to expect when."""
    from sentinel.demo.grid_worker import DemoGridWorker
    from sentinel.mqtt.publisher import BrokerAddress

    _demo_login(services)
    address = BrokerAddress.parse(services.broker_url)
    person, name = DEMO_WORKER
    worker = DemoGridWorker(person, name, address.host, address.port, services.publisher.topics.prefix)
    worker.start()
    log.info(
        "what happens: from ~20 s a crowd on plaza-north, fruit waste and a vendor at east-gate, the lens of "
        "south-lane covered; cases go to the roster's workers with demo deadlines of 30-60 s; %s accepts and "
        "reports hers, the camera re-checks and closes them; south-lane's case is not answered and escalates",
        person,
    )
    return worker.stop


def _demo_login(services: Services) -> None:
    """The demo's console needs someone to sign in: create `demo` (admin) once, with a random password
    written to a file only its owner can read (never printed or logged)."""
    from sentinel.console.users import Users
    from sentinel.storage.db import session_factory
    from sentinel.storage.private import write_private

    config = services.config
    if services.console is None:
        return
    users = Users(session_factory(services.store.engine))
    login_file = config.storage.data_dir / "demo-login.txt"
    if not users.all():
        password, field_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        users.add("demo", password, "admin", "Demo operator")
        users.add(PHONE_USER, field_password, "grid_worker", "李强", roster_id=PHONE_USER)
        write_private(  # 0600 from the start
            login_file,
            f"user: demo\npassword: {password}\n\n# the grid worker's phone, {services.console.url}/m/\n"
            f"user: {PHONE_USER}\npassword: {field_password}\n".encode(),
        )
    log.info("console: %s/ (sign in as 'demo', the password is in %s)", services.console.url, login_file)
    log.info(
        "grid worker's phone: %s/m/ (sign in as '%s', a worker of both demo grids; password in the same file)",
        services.console.url, PHONE_USER,
    )  # fmt: skip
