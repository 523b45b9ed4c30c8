"""`sentinel run`: the supervisor process. It owns the store, the MQTT publisher and the analysis workers;
it turns workers' rule events into stored alerts (then published from the outbox) and keeps camera status.

A worker that dies or stops sending heartbeats is restarted with exponential backoff and jitter; its
cameras show the reason in their status meanwhile.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from multiprocessing.process import BaseProcess
from typing import Any
from zoneinfo import ZoneInfo

from sentinel.alerts.builder import build_alert, iso, new_alert_id
from sentinel.alerts.db import make_engine, migrate, sqlite_url
from sentinel.alerts.embedded_broker import EmbeddedBroker
from sentinel.alerts.publisher import BrokerAddress, MqttPublisher
from sentinel.alerts.snapshot import SnapshotStore, StoredSnapshot
from sentinel.alerts.store import AlertStore
from sentinel.config import CameraConfig, SentinelConfig, expand_env
from sentinel.daemon.live_reload import ConfigWatcher, diff_cameras, settings_needing_restart
from sentinel.daemon.messages import (
    AddCamera,
    CameraFailed,
    CameraStatusMsg,
    ConditionMsg,
    EventMsg,
    Heartbeat,
    RemoveCamera,
    WorkerFailed,
    WorkerMessage,
)
from sentinel.daemon.worker import WorkerSpec, worker_main
from sentinel.detect.rules import RuleEvent
from sentinel.event_types import effective_event_types
from sentinel.grid.cells import GridCells
from sentinel.grid.geolocate import Geolocator
from sentinel.grid.placement import place_event
from sentinel.ingest.backoff import Backoff
from sentinel.ingest.reader import CameraState, ReaderStatus

log = logging.getLogger(__name__)

HEARTBEAT_TIMEOUT = 30.0  # a worker silent this long is stuck: kill and restart it


class StartupError(Exception):
    """A problem that stops `sentinel run` before it starts (message is for the operator)."""


@dataclass
class WorkerHandle:
    spec: WorkerSpec
    process: BaseProcess | None = None
    stop: Any = None
    commands: Any = None  # supervisor → worker queue (live reload)
    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 60.0))
    restart_at: float | None = None
    last_beat: float = 0.0
    restarts: int = 0
    failed: str | None = None  # a fatal error: do not restart


@dataclass
class CameraView:
    camera: CameraConfig
    worker: int
    status: ReaderStatus | None = None
    offline_since: float | None = None
    offline_alerted: bool = False
    note: str | None = None  # supervisor-level problem (worker restarting, failed)
    published_at: float = 0.0  # monotonic time of the last retained status


def plan_workers(cameras: list[CameraConfig], requested: int) -> list[list[CameraConfig]]:
    """Share cameras round-robin over K workers (K = requested, or the CPU cores, never more than cameras)."""
    enabled = [c for c in cameras if c.enabled]
    k = max(1, min(requested or os.cpu_count() or 1, len(enabled)))
    shares: list[list[CameraConfig]] = [[] for _ in range(k)]
    for i, cam in enumerate(enabled):
        shares[i % k].append(cam)
    return [s for s in shares if s]


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
        self.log_level = log_level
        self.tz = ZoneInfo(config.site.timezone)
        self.prefix = config.topic_prefix()
        self.event_types = effective_event_types(config.event_types)
        self.ctx = mp.get_context("spawn")  # no fork: readers and ONNX Runtime hold threads
        self.queue: Any = self.ctx.Queue()
        self.workers: list[WorkerHandle] = []
        self.cameras: dict[str, CameraView] = {}
        self.broker: EmbeddedBroker | None = None
        self.publisher: MqttPublisher | None = None
        self.store: AlertStore | None = None
        self.snapshots = SnapshotStore(config.storage.data_dir)
        self.cells: GridCells | None = None
        self.geolocator: Geolocator | None = None
        self.alerts_stored = 0

    # ---------------------------------------------------------------- start / stop

    def start(self) -> None:
        cfg = self.config
        cfg.storage.data_dir.mkdir(parents=True, exist_ok=True)
        db_url = cfg.database.url or sqlite_url(cfg.storage.data_dir)
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
        self._load_grid()

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
        client_id = cfg.mqtt.client_id or f"sentinel-{cfg.site.id}-{socket.gethostname()}"
        self.publisher = MqttPublisher(
            BrokerAddress.parse(url),
            self.prefix,
            self.store,
            client_id=client_id,
            username=expand_env(cfg.mqtt.username) if cfg.mqtt.username else None,
            password=expand_env(cfg.mqtt.password) if cfg.mqtt.password else None,
            keepalive=cfg.mqtt.keepalive,
        )
        self.publisher.start()  # connects in the background; alerts wait in the outbox until it does
        if not self.publisher.wait_connected(5.0):
            log.warning(
                "MQTT broker %s not reachable yet; alerts are stored and will be sent when it is", url
            )

        for index, share in enumerate(plan_workers(cfg.cameras, cfg.workers)):
            handle = WorkerHandle(
                WorkerSpec(index, share, cfg.detector, cfg.storage.data_dir / "cameras", self.log_level)
            )
            self.workers.append(handle)
            for cam in share:
                self.cameras[cam.id] = CameraView(cam, index)
            self._spawn(handle)
        log.info(
            "sentinel running: site %s, %d cameras on %d workers, MQTT %s, prefix %s",
            cfg.site.id, len(self.cameras), len(self.workers), url, self.prefix,
        )  # fmt: skip
        address = BrokerAddress.parse(url)
        log.info("watch it: mosquitto_sub -h %s -p %d -t '%s/#' -v", address.host, address.port, self.prefix)

    def _load_grid(self) -> None:
        """Grid cells and roster (validated by `sentinel check` already) and each camera's geolocation."""
        from sentinel.grid.cells import load_cells
        from sentinel.grid.geolocate import Geolocator

        grid = self.config.grid
        try:
            self.cells = load_cells(grid.cells) if grid.cells is not None else None
        except Exception as exc:
            raise StartupError(f"grid.cells: {exc}") from None
        self.geolocator = Geolocator(self.config.cameras, self.cells)
        for warning in self.geolocator.warnings:
            log.warning("geolocation: %s", warning)

    def stop(self) -> None:
        log.info("stopping")
        for handle in self.workers:
            if handle.stop is not None:
                handle.stop.set()
        deadline = time.monotonic() + 10
        for handle in self.workers:
            if handle.process is not None:
                handle.process.join(timeout=max(0.1, deadline - time.monotonic()))
                if handle.process.is_alive():
                    handle.process.kill()
                    handle.process.join(timeout=2)
        self._drain_queue(timeout=0.2)
        for view in self.cameras.values():
            self._publish_camera(view, override_state=CameraState.stopped)
        if self.publisher is not None:
            self.publisher.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.store is not None:
            self.store.engine.dispose()

    def run(self, stop: threading.Event) -> None:
        """Serve until `stop` is set."""
        next_prune = 0.0
        while not stop.is_set():
            self._drain_queue(timeout=0.5)
            self._supervise_workers()
            self._check_offline_cameras()
            if self.watcher is not None and (self.reload_requested.is_set() or self.watcher.changed()):
                self.reload_requested.clear()
                self.reload()
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + 3600
                self._prune_snapshots()

    # ---------------------------------------------------------------- workers

    def _spawn(self, handle: WorkerHandle) -> None:
        handle.stop = self.ctx.Event()
        handle.commands = self.ctx.Queue()
        handle.process = self.ctx.Process(
            target=worker_main,
            args=(handle.spec, self.queue, handle.stop, handle.commands),
            name=f"sentinel-worker-{handle.spec.index}",
            daemon=True,
        )
        handle.process.start()
        handle.last_beat = time.monotonic()
        handle.restart_at = None

    def _supervise_workers(self) -> None:
        now = time.monotonic()
        for handle in self.workers:
            proc = handle.process
            if handle.failed or proc is None:
                continue
            if handle.restart_at is not None:
                if now >= handle.restart_at:
                    log.info("restarting worker %d (restart %d)", handle.spec.index, handle.restarts)
                    self._spawn(handle)
                continue
            stuck = now - handle.last_beat > HEARTBEAT_TIMEOUT
            if proc.is_alive() and not stuck:
                continue
            if stuck and proc.is_alive():
                log.error(
                    "worker %d sent no heartbeat for %.0f s: killing it", handle.spec.index, HEARTBEAT_TIMEOUT
                )
                proc.kill()
                proc.join(timeout=5)
            reason = f"analysis worker {handle.spec.index} {'was stuck' if stuck else f'died (exit code {proc.exitcode})'}"
            delay = handle.backoff.next_delay()
            handle.restarts += 1
            handle.restart_at = now + delay
            log.error("%s; restarting in %.1f s", reason, delay)
            for view in self.cameras.values():
                if view.worker == handle.spec.index:
                    view.note = f"{reason}; restarting"
                    self._publish_camera(view, override_state=CameraState.offline)

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
        if diff:
            self._load_grid()  # homographies and positions may have changed
        if not diff:
            return
        log.info(
            "config reload: %d added, %d changed, %d removed",
            len(diff.added), len(diff.changed), len(diff.removed),
        )  # fmt: skip
        for camera_id in diff.removed:
            view = self.cameras.pop(camera_id)
            self._send(self.workers[view.worker], RemoveCamera(camera_id), drop=camera_id)
            if self.publisher is not None:
                self.publisher.clear_retained(f"cameras/{camera_id}/status")
        for camera in diff.changed:
            view = self.cameras[camera.id]
            view.camera, view.status, view.offline_since, view.offline_alerted = camera, None, None, False
            self._send(self.workers[view.worker], AddCamera(camera), drop=camera.id)
        for camera in diff.added:
            handle = self._least_loaded_worker()
            self.cameras[camera.id] = CameraView(camera, handle.spec.index)
            self._send(handle, AddCamera(camera), drop=None)

    def _send(self, handle: WorkerHandle, cmd: AddCamera | RemoveCamera, drop: str | None) -> None:
        """Tell a worker, and keep its spec current so a restarted worker comes back with the same set."""
        cameras = [c for c in handle.spec.cameras if c.id != drop]
        if isinstance(cmd, AddCamera):
            cameras.append(cmd.camera)
        handle.spec = replace(handle.spec, cameras=cameras)
        if handle.commands is not None and handle.process is not None and handle.process.is_alive():
            handle.commands.put(cmd)

    def _least_loaded_worker(self) -> WorkerHandle:
        limit = self.config.workers or os.cpu_count() or 1
        if not self.workers or (len(self.workers) < limit and all(h.spec.cameras for h in self.workers)):
            spec = WorkerSpec(
                len(self.workers),
                [],
                self.config.detector,
                self.config.storage.data_dir / "cameras",
                self.log_level,
            )
            handle = WorkerHandle(spec)
            self.workers.append(handle)
            self._spawn(handle)
            return handle
        return min(self.workers, key=lambda h: len(h.spec.cameras))

    # ---------------------------------------------------------------- messages from workers

    def _drain_queue(self, timeout: float) -> None:
        try:
            msg: WorkerMessage = self.queue.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self._handle(msg)
            try:
                msg = self.queue.get_nowait()
            except queue.Empty:
                return

    def _handle(self, msg: WorkerMessage) -> None:
        if isinstance(msg, Heartbeat):
            handle = self.workers[msg.worker]
            handle.last_beat = time.monotonic()
            if handle.backoff.attempt and time.time() - msg.ts < 5:
                handle.backoff.reset()
        elif isinstance(msg, CameraStatusMsg):
            self.workers[msg.worker].last_beat = time.monotonic()
            view = self.cameras.get(msg.status.camera_id)
            if view is not None:
                self._on_status(view, msg.status)
        elif isinstance(msg, EventMsg):
            self._on_event(msg.event, msg.snapshot_jpeg)
        elif isinstance(msg, ConditionMsg):
            pass  # camera verification of cases (grid layer) subscribes here
        elif isinstance(msg, CameraFailed):
            log.error("camera %s cannot be analysed: %s", msg.camera_id, msg.error)
            if msg.camera_id in self.cameras:
                self.cameras[msg.camera_id].note = msg.error
                self._publish_camera(self.cameras[msg.camera_id], override_state=CameraState.offline)
        elif isinstance(msg, WorkerFailed):
            log.error("worker %d: %s", msg.worker, msg.error)
            handle = self.workers[msg.worker]
            handle.failed = msg.error
            for view in self.cameras.values():
                if view.worker == msg.worker:
                    view.note = msg.error
                    self._publish_camera(view, override_state=CameraState.offline)

    def _on_status(self, view: CameraView, status: ReaderStatus) -> None:
        changed = view.status is None or (view.status.state, view.status.error) != (
            status.state,
            status.error,
        )
        view.status = status
        view.note = None
        if status.state is CameraState.offline:
            view.offline_since = view.offline_since or status.since
        elif status.state is CameraState.online:
            view.offline_since, view.offline_alerted = None, False
        if changed:
            log.info(
                "camera %s: %s%s", view.camera.id, status.state, f" ({status.error})" if status.error else ""
            )
        if changed or time.monotonic() - view.published_at >= self.config.mqtt.status_interval:
            self._publish_camera(view)

    def _publish_camera(self, view: CameraView, override_state: CameraState | None = None) -> None:
        if self.publisher is None:
            return
        st = view.status
        state = override_state or (st.state if st else CameraState.connecting)
        payload: dict[str, object] = {
            "camera_id": view.camera.id,
            "name": view.camera.name or view.camera.id,
            "state": state.value,
            "since": iso(st.since, self.tz) if st else None,
            "fps": st.fps if st else 0.0,
            "last_frame_at": iso(st.last_frame_at, self.tz) if st and st.last_frame_at else None,
            "error": view.note or (st.error if st else None),
            "decode_mode": st.decode_mode if st else None,
            "reconnects": st.reconnects if st else 0,
            "frames": st.frames_delivered if st else 0,
            "worker": view.worker,
        }
        self.publisher.set_retained(f"cameras/{view.camera.id}/status", payload)
        view.published_at = time.monotonic()

    def _check_offline_cameras(self) -> None:
        now = time.time()
        for view in self.cameras.values():
            since = view.offline_since
            if since is None or view.offline_alerted or now - since < view.camera.offline_alert_after:
                continue
            view.offline_alerted = True
            error = view.status.error if view.status else None
            event = RuleEvent(
                view.camera.id, "camera_health", "camera_offline", None, since, now, 0, 1.0, [], None
            )
            log.warning(
                "camera %s offline since %s: raising camera_offline (%s)",
                view.camera.id,
                iso(since, self.tz),
                error,
            )
            self._on_event(event, None)

    def _prune_snapshots(self) -> None:
        keep = self.config.storage.snapshot_retention_days
        try:
            removed = self.snapshots.prune(datetime.now(self.tz).date(), keep)
        except OSError as exc:
            log.error("snapshot retention failed: %s", exc)
            return
        if removed:
            log.info("snapshot retention: removed %d files older than %d days", removed, keep)

    # ---------------------------------------------------------------- alerts

    def _on_event(self, event: RuleEvent, jpeg: bytes | None) -> None:
        assert self.store is not None
        view = self.cameras.get(event.camera_id)
        event_type = self.event_types.get(event.event_type)
        if view is None or event_type is None:
            log.error(
                "dropping event for unknown camera/event type: %s/%s", event.camera_id, event.event_type
            )
            return
        alert_id = new_alert_id()
        snapshot: StoredSnapshot | None = None
        if jpeg is not None:
            try:
                snapshot = self.snapshots.save(
                    alert_id, jpeg, datetime.fromtimestamp(event.detected_at, self.tz)
                )
            except OSError as exc:  # disk full or unwritable: the alert matters more than its picture
                log.error("cannot write snapshot for alert %s: %s", alert_id, exc)
        location, grid, _cell = place_event(self.geolocator, self.cells, view.camera, event.objects)
        alert = build_alert(
            alert_id,
            self.config.site.id,
            event,
            view.camera,
            event_type,
            self.tz,
            snapshot,
            place=(location, grid),
        )
        topic = f"{self.prefix}/alerts/{event.event_type}/{event.camera_id}"
        self.store.record(alert, topic, str(snapshot.path) if snapshot else None)
        self.alerts_stored += 1
        log.info(
            "alert %s %s (%s) on camera %s: count %d",
            alert_id,
            event_type.id,
            event_type.name,
            event.camera_id,
            event.count,
        )
        if self.publisher is not None:
            self.publisher.outbox_notify()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]
