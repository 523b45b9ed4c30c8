"""The composition root of `sentinel run`: builds every service once, from the config, in dependency order,
and hands each part what it needs through its constructor. The only place where parts are wired together.

Order: database -> (PostgreSQL) cluster membership, whose node id the store and the MQTT client carry -> the
store -> the broker and the publisher -> case engine, grid data, intake -> camera board, worker pool and the
camera scheduler -> cluster node -> console -> live reload. Nothing is running yet except the embedded
broker (its URL is known only once it listens) and the database connection; `Supervisor.start` starts the
rest. A failure is a StartupError, and what was opened is closed again.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import socket
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sentinel.alerts.snapshot import SnapshotStore
from sentinel.alerts.store import AlertStore
from sentinel.cases.commands import CaseCommands
from sentinel.cases.engine import CaseEngine
from sentinel.cases.roster import Roster, load_roster
from sentinel.cases.webhook.metrics import WebhookMetrics
from sentinel.cases.webhook.queue import WebhookQueue
from sentinel.cases.webhook.sender import WebhookSender
from sentinel.cluster.member import ClusterMember
from sentinel.cluster.metrics import ClusterMetrics
from sentinel.cluster.node import ClusterJoinError, ClusterNode, join_cluster, node_id_for
from sentinel.config.event_types import effective_event_types
from sentinel.config.models import CameraConfig, SentinelConfig, expand_env
from sentinel.config.webhook import WebhookConfig
from sentinel.console.live import LiveFeed
from sentinel.console.metrics import SentinelMetrics
from sentinel.daemon.camera_board import CameraBoard
from sentinel.daemon.camera_scheduler import CameraRegistry, CameraScheduler
from sentinel.daemon.console_wiring import build_console
from sentinel.daemon.intake import AlertIntake
from sentinel.daemon.live_reload import ConfigWatcher, LiveReload
from sentinel.daemon.services import Services, StartupError
from sentinel.daemon.workers import WorkerPool
from sentinel.geo.cells import GridCells
from sentinel.geo.geolocate import Geolocator
from sentinel.geo.grid_file import load_cells
from sentinel.mqtt.embedded_broker import EmbeddedBroker
from sentinel.mqtt.publisher import BrokerAddress, MqttPublisher, MqttSetupError, TlsOptions
from sentinel.storage.db import Database, DatabaseError, open_database
from sentinel.storage.private import private_dir

log = logging.getLogger(__name__)


def compose(
    config: SentinelConfig, log_level: int = logging.INFO, watcher: ConfigWatcher | None = None
) -> Services:
    """The services of one `sentinel run`; `watcher`: live reload of the camera registry (None: off)."""
    private_dir(config.storage.data_dir)  # snapshots, clips, the database: 0700
    opened = contextlib.ExitStack()  # closed again if a later step fails
    try:
        with opened:
            services = _compose(config, log_level, watcher, opened)
            opened.pop_all()  # from here on the supervisor's stop() closes them
            return services
    except DatabaseError as exc:
        raise StartupError(str(exc)) from None


def _compose(
    config: SentinelConfig, log_level: int, watcher: ConfigWatcher | None, opened: contextlib.ExitStack
) -> Services:
    tz = ZoneInfo(config.site.timezone)
    prefix = config.topic_prefix()
    registry = CameraRegistry(config.cameras)
    database = open_database(config.database, config.storage.data_dir)
    opened.callback(database.dispose)
    member = _join_cluster(config, database, registry)
    if member is not None:
        opened.callback(member.leave)
    node_id = member.node_id if member is not None else None
    store = AlertStore(database.engine, node_id)
    broker, broker_url = _embedded_broker(config, opened)
    publisher = _publisher(config, prefix, store, broker_url, node_id)
    event_types = effective_event_types(config.event_types)
    cells, roster = _grid(config)
    cases = commands = None
    hook = _webhook_config(config)
    webhook = WebhookQueue(hook, config.site.id, roster, cells) if hook is not None else None
    if config.cases.enabled:
        now = lambda: datetime.now(UTC)  # noqa: E731
        cases = CaseEngine(
            store.sessions, event_types, now, prefix, config=config.cases, tz=tz, webhook=webhook
        )
        commands = CaseCommands(cases, prefix, roster)
    _subscribe(config, publisher, commands, clustered=member is not None)
    intake = AlertIntake(
        config.site.id, prefix, tz, store, SnapshotStore(config.storage.data_dir), event_types, cases,
        cells=cells, roster=roster, geolocator=_geolocator(config.cameras, cells),
        public_url=config.console.public_url,
    )  # fmt: skip
    live = LiveFeed()
    metrics = SentinelMetrics(outbox_depth=store.outbox_depth)
    sender = _webhook_sender(config, store, metrics) if cases is not None else None
    board = CameraBoard(
        tz, config.mqtt.status_interval, publisher, listeners=[lambda payload: live.publish("camera", payload)],
        node_id=node_id,
    )  # fmt: skip
    pool = WorkerPool(  # spawn, no fork: readers and ONNX Runtime hold threads
        mp.get_context("spawn"), config.detector, config.storage.data_dir / "cameras", log_level,
        config.workers, detectors=config.detectors, timezone=config.site.timezone,
    )  # fmt: skip
    scheduler = CameraScheduler(board, pool, forget=metrics.forget_camera)
    cluster = None
    if member is not None:
        ClusterMetrics(metrics.registry, member)  # gauges read the member when scraped
        cluster = ClusterNode(
            member, scheduler, registry.all, prefix, announce=live.publish, rescan_outbox=publisher.rescan
        )
    camera_status = cluster.camera_statuses if cluster is not None else scheduler.statuses
    console = build_console(
        config, store, cases, live, metrics, publisher, registry.all, camera_status, (cells, roster),
        clustered=cluster is not None,
    )  # fmt: skip
    reload = None
    if watcher is not None:
        reload = LiveReload(
            watcher, config, registry, scheduler, lambda cameras: intake.relocate(_geolocator(cameras, cells)),
            cluster,
        )  # fmt: skip
    return Services(
        config=config, tz=tz, store=store, broker=broker, publisher=publisher, broker_url=broker_url,
        pool=pool, board=board, registry=registry, scheduler=scheduler, intake=intake,
        cases=cases, commands=commands, live=live, metrics=metrics, console=console, cluster=cluster,
        reload=reload, webhook=sender,
    )  # fmt: skip


def _webhook_config(config: SentinelConfig) -> WebhookConfig | None:
    """The webhook's snapshot links are absolute under `webhook.console_url`, else `console.public_url`."""
    hook = config.webhook
    if hook is not None and hook.console_url is None and config.console.public_url:
        return hook.model_copy(update={"console_url": config.console.public_url})
    return hook


def _join_cluster(
    config: SentinelConfig, database: Database, registry: CameraRegistry
) -> ClusterMember | None:
    """On PostgreSQL this process is one node of possibly several: cameras are leased, not simply run.
    None on SQLite: one node runs every camera."""
    if database.dialect != "postgresql":
        return None
    console = config.console
    try:
        return join_cluster(
            database.engine, config.node, node_id_for(config.node), registry.enabled_ids,
            f"http://{console.host}:{console.port}" if console.enabled else None,
        )  # fmt: skip
    except ClusterJoinError as exc:
        raise StartupError(str(exc)) from None


def _embedded_broker(
    config: SentinelConfig, opened: contextlib.ExitStack
) -> tuple[EmbeddedBroker | None, str]:
    if config.mqtt.url is not None:
        return None, config.mqtt.url
    broker = EmbeddedBroker(port=config.mqtt.embedded_port, fallback=config.mqtt.embedded_port_fallback)
    try:
        broker.start()
    except Exception as exc:
        raise StartupError(str(exc)) from None
    opened.callback(broker.stop)
    return broker, broker.url


def _publisher(
    config: SentinelConfig, prefix: str, store: AlertStore, url: str, node_id: str | None
) -> MqttPublisher:
    mqtt = config.mqtt
    client_id = mqtt.client_id or f"sentinel-{config.site.id}-{node_id or socket.gethostname()}"
    if mqtt.client_id and node_id:
        client_id = f"{mqtt.client_id}-{node_id}"  # one client id per node, or they kick each other
    try:
        return MqttPublisher(
            BrokerAddress.parse(url),
            prefix,
            store,
            client_id=client_id,
            username=expand_env(mqtt.username) if mqtt.username else None,
            password=expand_env(mqtt.password) if mqtt.password else None,
            keepalive=mqtt.keepalive,
            tls=TlsOptions(mqtt.tls_ca, mqtt.tls_cert, mqtt.tls_key, mqtt.tls_insecure),
            node_id=node_id,
        )
    except MqttSetupError as exc:
        raise StartupError(str(exc)) from None
    except KeyError as exc:  # an unset ${VAR} in username/password
        raise StartupError(f"mqtt: environment variable {exc.args[0]} is not set") from None


def _subscribe(
    config: SentinelConfig, publisher: MqttPublisher, commands: CaseCommands | None, clustered: bool
) -> None:
    """What this process listens to (subscribed on every connect): case commands and, on a node of several,
    the whole system for this node's console (other nodes' cameras, alerts and cases)."""
    topics = publisher.topics
    if commands is not None:
        # several nodes: the broker hands each command to one of them (a shared subscription)
        for wanted in commands.subscriptions:  # the command platform's topic and every person's own
            publisher.subscribe(
                topics.shared(f"sentinel-{config.site.id}", wanted) if clustered else wanted,
                when_full=commands.busy_reply,  # a command dropped unread is answered "busy"
            )
    if clustered:
        publisher.subscribe(topics.camera_statuses())
        if config.console.enabled:
            publisher.subscribe(topics.alerts())
            publisher.subscribe(topics.cases())


def _webhook_sender(
    config: SentinelConfig, store: AlertStore, metrics: SentinelMetrics
) -> WebhookSender | None:
    """Posts the case changes queued by the engine (every node runs one: a delivery is claimed before it is
    posted, so none goes twice at once)."""
    if config.webhook is None:
        return None
    figures = WebhookMetrics(metrics.registry)
    sender = WebhookSender(store.sessions, config.webhook, on_outcome=figures.observe)
    figures.watch(sender)
    return sender


def _grid(config: SentinelConfig) -> tuple[GridCells | None, Roster | None]:
    """Grid cells and roster (validated by `sentinel check` already)."""
    grid = config.grid
    try:
        cells = load_cells(grid.cells) if grid.cells is not None else None
        roster = load_roster(grid.roster, cells) if grid.roster is not None else None
    except Exception as exc:
        raise StartupError(f"grid data: {exc}") from None
    return cells, roster


def _geolocator(cameras: list[CameraConfig], cells: GridCells | None) -> Geolocator:
    geolocator = Geolocator(cameras, cells)
    for warning in geolocator.warnings:
        log.warning("geolocation: %s", warning)
    return geolocator
