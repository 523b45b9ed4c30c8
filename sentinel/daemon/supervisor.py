"""`sentinel run`: the supervisor process. It owns the store, the MQTT publisher, the case engine and the
analysis workers, and routes what the workers report: statuses to the camera board, rule events to the
alert intake (stored, published, filed as cases), rule conditions to camera verification of cases.

Parts: `workers.py` (processes, restarts), `camera_board.py` (status, offline alerts), `intake.py`
(event → alert → case), `live_reload.py` (cameras.yaml edits).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sentinel.alerts.retention import prune_media
from sentinel.alerts.snapshot import SnapshotStore
from sentinel.alerts.store import AlertStore
from sentinel.cases.commands import CaseCommands
from sentinel.cases.engine import CaseEngine
from sentinel.cluster.member import ClusterMember
from sentinel.config.event_types import effective_event_types
from sentinel.config.models import SentinelConfig, expand_env
from sentinel.console.live import LiveFeed
from sentinel.console.metrics import SentinelMetrics
from sentinel.console.server import ConsoleServer, ConsoleServerError
from sentinel.daemon.camera_board import CameraBoard
from sentinel.daemon.cluster_wiring import ClusterWiring
from sentinel.daemon.console_wiring import start_console
from sentinel.daemon.intake import AlertIntake
from sentinel.daemon.live_reload import ConfigWatcher, diff_cameras, settings_needing_restart
from sentinel.daemon.messages import (
    AddCamera,
    CameraFailed,
    CameraStatusMsg,
    ClipMsg,
    ConditionMsg,
    EventMsg,
    Heartbeat,
    RemoveCamera,
    WorkerFailed,
    WorkerMessage,
)
from sentinel.daemon.workers import WorkerPool
from sentinel.mqtt.embedded_broker import EmbeddedBroker
from sentinel.mqtt.publisher import BrokerAddress, MqttPublisher, MqttSetupError, TlsOptions
from sentinel.storage.db import make_engine, migrate, session_factory, sqlite_url

log = logging.getLogger(__name__)


class StartupError(Exception):
    """A problem that stops `sentinel run` before it starts (message is for the operator)."""


class Supervisor:
    def __init__(
        self,
        config: SentinelConfig,
        log_level: int = logging.INFO,
        watcher: ConfigWatcher | None = None,
    ) -> None:
        self.config = config
        self.watcher = watcher  # live reload of the camera registry; None: off
        self.reload_requested = threading.Event()  # set by SIGHUP
        self.tz = ZoneInfo(config.site.timezone)
        self.prefix = config.topic_prefix()
        self.event_types = effective_event_types(config.event_types)
        ctx = mp.get_context("spawn")  # no fork: readers and ONNX Runtime hold threads
        self.queue: Any = ctx.Queue()
        self.pool = WorkerPool(
            ctx, self.queue, config.detector, config.storage.data_dir / "cameras", log_level, config.workers
        )
        self.board = CameraBoard(self.tz, config.mqtt.status_interval)
        self.snapshots = SnapshotStore(config.storage.data_dir)
        self.broker: EmbeddedBroker | None = None
        self.publisher: MqttPublisher | None = None
        self.store: AlertStore | None = None
        self.intake: AlertIntake | None = None
        self.cases: CaseEngine | None = None
        self.commands: CaseCommands | None = None
        self.live = LiveFeed()  # alerts, cases and camera status for the console's SSE stream
        self.metrics = SentinelMetrics(outbox_depth=lambda: self.store.outbox_depth() if self.store else 0)
        self.console: ConsoleServer | None = None
        self.member: ClusterMember | None = None  # on PostgreSQL: this node's leases (sentinel.cluster)
        self.node_id: str | None = None
        self.cluster: ClusterWiring | None = None
        self.board.listeners.append(lambda payload: self.live.publish("camera", payload))
        self.started_at = time.monotonic()

    # ---------------------------------------------------------------- start / stop

    def start(self) -> None:
        cfg = self.config
        cfg.storage.data_dir.mkdir(parents=True, exist_ok=True)
        self._open_store()
        assert self.store is not None
        self.cluster = ClusterWiring.join(self)  # None on SQLite: one node runs every camera
        if self.cluster is not None:
            self.member, self.node_id = self.cluster.member, self.cluster.node_id
        if cfg.cases.enabled:
            now = lambda: datetime.now(UTC)  # noqa: E731
            self.cases = CaseEngine(
                session_factory(self.store.engine),
                self.event_types,
                now,
                self.prefix,
                config=cfg.cases,
                tz=self.tz,
            )
        self.intake = AlertIntake(
            cfg.site.id, self.prefix, self.tz, self.store, self.snapshots, self.event_types, self.cases
        )
        self._load_grid()
        url = self._start_mqtt()
        if self.member is None:
            for camera in cfg.cameras:
                if camera.enabled:
                    self.board.add(camera, -1)
            self.pool.start(cfg.cameras)
        try:
            self.console = start_console(self)
        except ConsoleServerError as exc:
            raise StartupError(str(exc)) from None
        for handle in self.pool.handles:
            for camera in handle.spec.cameras:
                self.board.views[camera.id].worker = handle.spec.index
        if self.member is not None:
            self.member.start()  # cameras start as their leases are claimed
            log.info(
                "sentinel running: site %s, node %s of a cluster (%d cameras in the registry), MQTT %s, "
                "prefix %s", cfg.site.id, self.node_id, len(cfg.cameras), url, self.prefix,
            )  # fmt: skip
        else:
            log.info(
                "sentinel running: site %s, %d cameras on %d workers, MQTT %s, prefix %s",
                cfg.site.id, len(self.board.views), len(self.pool.handles), url, self.prefix,
            )  # fmt: skip
        address = BrokerAddress.parse(url)
        log.info("watch it: mosquitto_sub -h %s -p %d -t '%s/#' -v", address.host, address.port, self.prefix)

    def _open_store(self) -> None:
        db_url = self.config.database.url or sqlite_url(self.config.storage.data_dir)
        try:
            engine = make_engine(expand_env(db_url))
            migrate(engine)
        except KeyError as exc:
            raise StartupError(f"database.url: environment variable {exc.args[0]} is not set") from None
        except Exception as exc:
            raise StartupError(
                f"cannot open the database: {type(exc).__name__}: {_first_line(exc)}"
            ) from None
        self.store = AlertStore(engine)

    def _start_mqtt(self) -> str:
        cfg = self.config
        assert self.store is not None
        url = cfg.mqtt.url
        if url is None:
            self.broker = EmbeddedBroker(
                port=cfg.mqtt.embedded_port, fallback=cfg.mqtt.embedded_port_fallback
            )
            try:
                self.broker.start()
            except Exception as exc:
                raise StartupError(str(exc)) from None
            url = self.broker.url
        client_id = cfg.mqtt.client_id or f"sentinel-{cfg.site.id}-{self.node_id or socket.gethostname()}"
        if cfg.mqtt.client_id and self.node_id:
            client_id = f"{cfg.mqtt.client_id}-{self.node_id}"  # one client id per node, or they kick each other
        tls = TlsOptions(cfg.mqtt.tls_ca, cfg.mqtt.tls_cert, cfg.mqtt.tls_key, cfg.mqtt.tls_insecure)
        try:
            self.publisher = MqttPublisher(
                BrokerAddress.parse(url),
                self.prefix,
                self.store,
                client_id=client_id,
                username=expand_env(cfg.mqtt.username) if cfg.mqtt.username else None,
                password=expand_env(cfg.mqtt.password) if cfg.mqtt.password else None,
                keepalive=cfg.mqtt.keepalive,
                tls=tls,
                status_suffix=f"nodes/{self.node_id}/status" if self.node_id else "status",
            )
        except MqttSetupError as exc:
            raise StartupError(str(exc)) from None
        except KeyError as exc:  # an unset ${VAR} in username/password
            raise StartupError(f"mqtt: environment variable {exc.args[0]} is not set") from None
        self.board.publisher = self.publisher
        if self.commands is not None:
            # several nodes: the broker hands each command to one of them (a shared subscription)
            share = f"$share/sentinel-{cfg.site.id}/" if self.member is not None else ""
            self.publisher.subscribe(share + self.commands.subscription)
        if self.member is not None:
            self.publisher.set_retained("status", "online")  # the site; each node has nodes/<id>/status
            # the whole system for this node's console: other nodes' cameras, alerts and cases
            self.publisher.subscribe(f"{self.prefix}/cameras/+/status")
            if cfg.console.enabled:
                self.publisher.subscribe(f"{self.prefix}/alerts/+/+")
                self.publisher.subscribe(f"{self.prefix}/cases/#")
        self.publisher.start()  # connects in the background; alerts wait in the outbox until it does
        if not self.publisher.wait_connected(5.0):
            log.warning(
                "MQTT broker %s not reachable yet; alerts are stored and will be sent when it is", url
            )
        return url

    def _load_grid(self) -> None:
        """Grid cells, roster and each camera's geolocation (validated by `sentinel check` already)."""
        from sentinel.cases.roster import load_roster
        from sentinel.geo.cells import load_cells
        from sentinel.geo.geolocate import Geolocator

        assert self.intake is not None
        grid = self.config.grid
        try:
            cells = load_cells(grid.cells) if grid.cells is not None else None
            roster = load_roster(grid.roster, cells) if grid.roster is not None else None
        except Exception as exc:
            raise StartupError(f"grid data: {exc}") from None
        self.intake.cells, self.intake.roster = cells, roster
        self.intake.geolocator = Geolocator(self.config.cameras, cells)
        for warning in self.intake.geolocator.warnings:
            log.warning("geolocation: %s", warning)
        if self.cases is not None:
            actors = set(roster.people) if roster is not None else set()
            self.commands = CaseCommands(self.cases, self.prefix, actors=lambda: actors)

    def stop(self) -> None:
        log.info("stopping")
        if self.console is not None:
            self.console.stop()
        # keep reading while the workers wind down: their last messages (clips written with what was
        # buffered, final statuses) arrive, and a worker whose queue pipe is full is never killed mid-message
        # (which would leave a torn message that blocks queue.get for ever)
        winding_down = threading.Event()

        def drain() -> None:
            while not winding_down.is_set():
                self._drain_queue(timeout=0.1)

        reader = threading.Thread(target=drain, name="drain-at-stop", daemon=True)
        reader.start()
        self.pool.stop()
        if self.member is not None:
            self.member.leave()  # the cameras are stopped: the other nodes may take them at once
        winding_down.set()
        reader.join(timeout=2.0)
        if not reader.is_alive():
            self._drain_queue(timeout=0.2)
        self.board.all_stopped()
        if self.publisher is not None:
            if self.cluster is not None and not self.cluster.other_nodes_alive():
                self.publisher.set_retained("status", "offline")  # the last node of the site goes
            self.publisher.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.store is not None:
            self.store.engine.dispose()

    def run(self, stop: threading.Event) -> None:
        """Serve until `stop` is set."""
        next_health = 0.0
        leader_due: dict[str, float] = {}  # leader job → next run (monotonic)
        while not stop.is_set():
            self._drain_queue(timeout=0.5)
            if self.cluster is not None:
                self.cluster.apply_leases()
            self.pool.supervise(self.board.mark_worker_down)
            for event in self.board.offline_events(time.time()):
                self._on_event_msg(event.camera_id, event, None)
            self._handle_inbound()
            if time.monotonic() >= next_health:
                next_health = time.monotonic() + self.config.mqtt.status_interval
                self._publish_health()
            if self.watcher is not None and (self.reload_requested.is_set() or self.watcher.changed()):
                self.reload_requested.clear()
                self.reload()
            if self.member is None or self.member.is_leader():
                self._leader_work(leader_due)
            else:
                leader_due.clear()  # the moment this node leads, it starts with every job

    def _leader_work(self, due: dict[str, float]) -> None:
        """Work that is not per camera: on a node of several, only the leader does it (case timers are also
        claimed row by row, so a stale leader cannot fire one twice)."""
        if self.cases is not None:
            self._announce_cases(self.cases.tick())
        now = time.monotonic()
        if self.cluster is not None and now >= due.get("adopt", 0.0):
            due["adopt"] = now + self.cluster.member.every
            self.cluster.adopt_outbox()
        if now >= due.get("prune", 0.0):
            due["prune"] = now + (600 if self.config.storage.max_media_bytes else 3600)
            self._prune_snapshots()
        if now >= due.get("sweep", 0.0) and self.intake is not None:
            due["sweep"] = now + 60
            if self.intake.fail_stale_clips(datetime.now(self.tz)):
                self._notify()

    def _publish_health(self) -> None:
        """Retained `{p}/health` (on a node of several `{p}/nodes/<id>/health`): what an operator or a monitor
        needs to see the daemon is keeping up (`{p}/status` stays the plain online/offline of the contract)."""
        if self.publisher is None:
            return
        try:
            depth: int | None = self.store.outbox_depth() if self.store is not None else None
        except Exception as exc:  # the database is away: say so, keep serving
            log.warning("outbox depth unknown: %s", _first_line(exc))
            depth = None
        views = list(self.board.views.values())
        online = sum(1 for v in views if v.note is None and v.status and v.status.state == "online")
        alive = sum(1 for h in self.pool.handles if h.process is not None and h.process.is_alive())
        cluster: dict[str, Any] = {}
        if self.member is not None:
            cluster = {
                "node": self.node_id,
                "leader": self.member.is_leader(),
                "live_nodes": self.member.live_nodes,
                "lease_error": self.member.last_error,
            }
        self.publisher.set_retained(
            f"nodes/{self.node_id}/health" if self.node_id else "health",
            {
                **cluster,
                "schema": "sentinel.health/1",
                "ts": datetime.now(self.tz).isoformat(timespec="seconds"),
                "uptime_s": round(time.monotonic() - self.started_at, 1),
                "outbox_depth": depth,
                "mqtt_error": self.publisher.last_error,
                "cameras": {"online": online, "total": len(views)},
                "workers": {
                    "alive": alive,
                    "total": len(self.pool.handles),
                    "restarts": sum(h.restarts for h in self.pool.handles),
                    "failed": sum(1 for h in self.pool.handles if h.failed),
                },
            },
        )

    def _notify(self) -> None:
        if self.publisher is not None:
            self.publisher.outbox_notify()

    # ---------------------------------------------------------------- live reload

    def reload(self) -> None:
        """Apply an edited camera registry: start added cameras, restart changed ones, stop removed ones;
        the others are not touched. An invalid edit is refused and the running set stays as it was."""
        assert self.watcher is not None
        try:
            new = self.watcher.load()
        except Exception as exc:  # ConfigError lists FILE:LINE problems; anything else is reported too
            log.error("config reload refused, keeping the running cameras:\n%s", exc)
            return
        for section in settings_needing_restart(self.config, new):
            log.warning("config reload: changes to '%s' need a restart of sentinel run; not applied", section)
        diff = diff_cameras(self.config.cameras, new.cameras)
        self.config = self.config.model_copy(update={"cameras": new.cameras})
        if not diff:
            return
        self._load_grid()  # homographies and positions may have changed
        log.info(
            "config reload: %d added, %d changed, %d removed",
            len(diff.added), len(diff.changed), len(diff.removed),
        )  # fmt: skip
        if self.member is not None:  # a node of several: run only what this node holds
            for camera_id in diff.removed:
                if camera_id in self.board.views:
                    view = self.board.remove(camera_id)
                    self.metrics.forget_camera(camera_id)
                    self.pool.send(view.worker, RemoveCamera(camera_id), drop=camera_id)
                self.member.drop(camera_id)
            for camera in diff.changed:
                if camera.id in self.board.views:
                    self.board.replace(camera)
                    self.pool.send(self.board.views[camera.id].worker, AddCamera(camera), drop=camera.id)
            self.member.registry_changed()  # added cameras are claimed like any free one
            return
        for camera_id in diff.removed:
            view = self.board.remove(camera_id)
            self.metrics.forget_camera(camera_id)
            self.pool.send(view.worker, RemoveCamera(camera_id), drop=camera_id)
        for camera in diff.changed:
            self.board.replace(camera)
            self.pool.send(self.board.views[camera.id].worker, AddCamera(camera), drop=camera.id)
        for camera in diff.added:
            worker = self.pool.least_loaded()
            self.board.add(camera, worker)
            self.pool.send(worker, AddCamera(camera), drop=None)

    # ---------------------------------------------------------------- messages from workers and MQTT

    def _drain_queue(self, timeout: float) -> None:
        try:
            msg: WorkerMessage = self.queue.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            try:
                self._handle(msg)
            except Exception:  # one bad message must not take the daemon (and every camera) down
                log.exception(
                    "could not handle %s from worker %s", type(msg).__name__, getattr(msg, "worker", "?")
                )
            try:
                msg = self.queue.get_nowait()
            except queue.Empty:
                return

    def _handle(self, msg: WorkerMessage) -> None:
        if isinstance(msg, Heartbeat):
            self.pool.beat(msg.worker, msg.ts)
            self.metrics.observe_heartbeat(msg.worker, msg.frames_analysed, msg.inference_ms)
            self.metrics.observe_camera_analysis(msg.cameras)
        elif isinstance(msg, CameraStatusMsg):
            self.pool.beat(msg.worker)
            self.board.on_status(msg.status)
            st = msg.status
            self.metrics.observe_camera(st.camera_id, st.state.value, st.frames_decoded, st.frames_delivered)
        elif isinstance(msg, EventMsg):
            self._on_event_msg(msg.event.camera_id, msg.event, msg.snapshot_jpeg, msg)
        elif isinstance(msg, ClipMsg):
            updated = self.intake.accept_clip(msg) if self.intake is not None else None
            if updated is not None:
                self._notify()
                # the console's live queue: the alert again, now with its clip (ready/partial/failed)
                self.live.publish("alert_clip", updated.model_dump(mode="json", by_alias=True))
        elif isinstance(msg, ConditionMsg):
            if self.cases is not None:
                self._announce_cases(
                    self.cases.on_condition(msg.camera_id, msg.event_type, msg.zone, msg.active, msg.ts)
                )
        elif isinstance(msg, CameraFailed):
            log.error("camera %s cannot be analysed: %s", msg.camera_id, msg.error)
            self.board.mark_down(msg.camera_id, msg.error)
        elif isinstance(msg, WorkerFailed):
            log.error("worker %d: %s", msg.worker, msg.error)
            self.pool[msg.worker].failed = msg.error
            self.board.mark_worker_down(msg.worker, msg.error)

    def _on_event_msg(
        self, camera_id: str, event: Any, jpeg: bytes | None, msg: EventMsg | None = None
    ) -> None:
        view = self.board.views.get(camera_id)
        if view is None or self.intake is None:
            log.error("dropping event from unknown camera %s", camera_id)
            return
        fence = self.member.fence(camera_id) if self.member is not None else None
        alert = self.intake.accept(
            event, jpeg, view.camera, msg.alert_id if msg else None, msg.clip if msg else None, fence
        )
        self._notify()
        if alert is not None:
            self.live.publish("alert", alert.model_dump(mode="json", by_alias=True))
            self.metrics.alerts.labels(alert.event_type).inc()

    def _announce_cases(self, changes: list[Any]) -> None:
        """Case changes are already in the outbox (same transaction); wake the publisher, tell the console."""
        if changes:
            self._notify()
        for change in changes:
            self.live.publish("case", change.payload)

    def _handle_inbound(self) -> None:
        """Inbound MQTT: case commands from the command platform (every one gets a reply, none can crash
        us) and, on a node of several, the other nodes' camera status."""
        if self.publisher is None:
            return
        while True:
            try:
                topic, payload = self.publisher.inbound.get_nowait()
            except queue.Empty:
                return
            if self.cluster is not None and self.cluster.heard(topic, payload):
                continue
            if self.commands is None:
                continue
            reply = self.commands.handle_and_queue(topic, payload)
            log.info("command on %s: %s", topic, "ok" if reply.ok else f"refused ({reply.error})")
            self._notify()
            if reply.ok:
                self.live.publish(
                    "case", {"case_id": reply.case_id, "state": reply.state, "number": reply.number}
                )

    def camera_statuses(self) -> list[dict[str, Any]]:
        """Every camera of the system for the console: this node's own, and on a cluster the others'."""
        return self.cluster.camera_statuses() if self.cluster is not None else self.board.statuses()

    def _prune_snapshots(self) -> None:
        """Snapshots and clips, by age and total size (sentinel.alerts.retention)."""
        storage = self.config.storage
        try:
            report = prune_media(
                storage.data_dir, datetime.now(self.tz).date(), storage.snapshot_retention_days,
                storage.max_media_bytes,
            )  # fmt: skip
        except OSError as exc:
            log.error("media retention failed: %s", exc)
            return
        if report:
            days = ", ".join(report.days) or "none whole"
            log.info(
                "media retention: removed %d files (%.1f MB; days %s), %.1f MB left",
                report.files, report.bytes / 1e6, days, report.total_after / 1e6,
            )  # fmt: skip


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]
