"""`sentinel run`: the supervisor's loop over the services the composition root built (`compose.py`). It routes
what the workers report (statuses to the camera board, rule events to the alert intake, rule conditions to
camera verification of cases), restarts dead or stuck workers with backoff, publishes health, applies live
reload and the cluster's lease decisions through the camera scheduler, does the leader's periodic work, and
shuts everything down in order.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime
from typing import Any

from sentinel.alerts.retention import prune_media
from sentinel.console.server import ConsoleServerError
from sentinel.daemon.channels import receive
from sentinel.daemon.messages import (
    CameraFailed,
    CameraStatusMsg,
    ClipMsg,
    ConditionMsg,
    EventMsg,
    Heartbeat,
    WorkerFailed,
    WorkerMessage,
)
from sentinel.daemon.services import Services, StartupError
from sentinel.detect.rules import RuleEvent
from sentinel.mqtt.publisher import BrokerAddress

log = logging.getLogger(__name__)

__all__ = ["StartupError", "Supervisor"]


class Supervisor:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._started_at = time.monotonic()
        self._leader_due: dict[str, float] = {}  # leader job -> next run (monotonic)

    # ---------------------------------------------------------------- start / stop

    def request_reload(self) -> None:
        """Re-read the camera registry at the next turn of the loop (SIGHUP)."""
        if self.services.reload is not None:
            self.services.reload.requested.set()

    def start(self) -> None:
        """Connect, start the cameras (on a node of several: as their leases are claimed) and the console.
        Raises StartupError."""
        s = self.services
        cfg = s.config
        if s.cluster is not None:
            s.publisher.set_retained(s.publisher.topics.status(), "online")  # the site; each node has its own
        s.publisher.start()  # connects in the background; alerts wait in the outbox until it does
        if s.webhook is not None:
            s.webhook.start()  # deliveries queued before a restart go first
        if not s.publisher.wait_connected(5.0):
            log.warning(
                "MQTT broker %s not reachable yet; alerts are stored and will be sent when it is",
                s.broker_url,
            )
        if s.cluster is None:
            s.scheduler.start_all(s.registry.all())
        if s.console is not None:
            try:
                s.console.start()
            except ConsoleServerError as exc:
                raise StartupError(str(exc)) from None
        prefix = s.publisher.topics.prefix
        if s.cluster is not None:
            s.cluster.start()
            log.info(
                "sentinel running: site %s, node %s of a cluster (%d cameras in the registry), MQTT %s, "
                "prefix %s", cfg.site.id, s.cluster.node_id, len(s.registry.all()), s.broker_url, prefix,
            )  # fmt: skip
        else:
            cameras, workers = len(s.scheduler.running_ids()), len(s.pool.handles)
            log.info(
                "sentinel running: site %s, %d camera%s on %d worker%s, MQTT %s, prefix %s", cfg.site.id,
                cameras, "" if cameras == 1 else "s", workers, "" if workers == 1 else "s", s.broker_url, prefix,
            )  # fmt: skip
        address = BrokerAddress.parse(s.broker_url)
        log.info("watch it: mosquitto_sub -h %s -p %d -t '%s/#' -v", address.host, address.port, prefix)

    def stop(self) -> None:
        s = self.services
        log.info("stopping")
        if s.console is not None:
            s.console.stop()
        # keep reading while the workers wind down: their last messages (clips written with what was
        # buffered, final statuses) arrive, and a worker whose pipe is full can finish writing and exit
        # instead of being killed mid-message (that message would be lost; it could no longer block us)
        winding_down = threading.Event()

        def drain() -> None:
            while not winding_down.is_set():
                self._read_workers(timeout=0.1)

        reader = threading.Thread(target=drain, name="drain-at-stop", daemon=True)
        reader.start()
        s.pool.stop()
        if s.cluster is not None:
            s.cluster.leave()  # the cameras are stopped: the other nodes may take them at once
        winding_down.set()
        reader.join(timeout=2.0)
        if not reader.is_alive():
            self._read_workers(timeout=0.2)
        s.board.all_stopped()
        if s.cluster is not None and not s.cluster.other_nodes_alive():
            s.publisher.set_retained(s.publisher.topics.status(), "offline")  # the site's last node goes
        s.publisher.stop()
        if s.webhook is not None:
            s.webhook.stop()  # what it has not delivered stays queued for the next start
        if s.broker is not None:
            s.broker.stop()
        s.store.engine.dispose()

    def run(self, stop: threading.Event) -> None:
        """Serve until `stop` is set."""
        s = self.services
        next_health = 0.0
        while not stop.is_set():
            self._read_workers(timeout=0.5)
            if s.cluster is not None:
                s.cluster.apply_leases()
            s.pool.supervise(s.board.mark_worker_down, self._handle_safely)
            for event in s.board.offline_events(time.time()):
                self._on_event(event, None)
            self._handle_inbound()
            if time.monotonic() >= next_health:
                next_health = time.monotonic() + s.config.mqtt.status_interval
                self._publish_health()
            if s.reload is not None:
                s.reload.poll()
            if s.cluster is None or s.cluster.is_leader():
                self._leader_work()
            else:
                self._leader_due.clear()  # the moment this node leads, it starts with every job

    def _leader_work(self) -> None:
        """Work that is not per camera: on a node of several, only the leader does it (case timers are also
        claimed row by row, so a stale leader cannot fire one twice)."""
        s, due = self.services, self._leader_due
        if s.cases is not None:
            self._announce_cases(s.cases.tick())
        now = time.monotonic()
        if s.cluster is not None and now >= due.get("adopt", 0.0):
            due["adopt"] = now + s.cluster.renew_every
            s.cluster.adopt_outbox()
        if now >= due.get("prune", 0.0):
            due["prune"] = now + (600 if s.config.storage.max_media_bytes else 3600)
            self._prune_media()
            self._prune_outbox()
        if now >= due.get("sweep", 0.0):
            due["sweep"] = now + 60
            if s.intake.fail_stale_clips(datetime.now(s.tz)):
                s.publisher.outbox_notify()

    def _publish_health(self) -> None:
        """Retained `{p}/health` (on a node of several `{p}/nodes/<id>/health`): what an operator or a monitor
        needs to see the daemon is keeping up (`{p}/status` stays the plain online/offline of the contract)."""
        s = self.services
        try:
            depth: int | None = s.store.outbox_depth()
        except Exception as exc:  # the database is away: say so, keep serving
            log.warning("outbox depth unknown: %s", _first_line(exc))
            depth = None
        online, total = s.board.online_count()
        workers = s.pool.summary()
        s.publisher.set_retained(
            s.publisher.topics.own_health(s.node_id),
            {
                **(s.cluster.health() if s.cluster is not None else {}),
                "schema": "sentinel.health/1",
                "ts": datetime.now(s.tz).isoformat(timespec="seconds"),
                "uptime_s": round(time.monotonic() - self._started_at, 1),
                "outbox_depth": depth,
                "mqtt_error": s.publisher.last_error,
                "cameras": {"online": online, "total": total},
                "workers": {
                    "alive": workers.alive,
                    "total": workers.total,
                    "restarts": workers.restarts,
                    "failed": workers.failed,
                },
            },
        )

    # ---------------------------------------------------------------- messages from workers and MQTT

    def _read_workers(self, timeout: float) -> None:
        """Handle what the workers sent, each on its own channel, waiting up to `timeout` s for the first
        message; then until none of them has more."""
        messages = receive(self.services.pool.channels(), timeout)
        while messages:
            for msg in messages:
                self._handle_safely(msg)
            messages = receive(self.services.pool.channels(), 0)

    def _handle_safely(self, msg: WorkerMessage) -> None:
        try:
            self._handle(msg)
        except Exception:  # one bad message must not take the daemon (and every camera) down
            log.exception(
                "could not handle %s from worker %s", type(msg).__name__, getattr(msg, "worker", "?")
            )

    def _handle(self, msg: WorkerMessage) -> None:
        s = self.services
        if isinstance(msg, Heartbeat):
            s.pool.beat(msg.worker, msg.ts)
            s.metrics.observe_heartbeat(msg.worker, msg.frames_analysed, msg.inference_ms)
            s.metrics.observe_camera_analysis(msg.cameras)
        elif isinstance(msg, CameraStatusMsg):
            s.pool.beat(msg.worker)
            s.board.on_status(msg.status)
            st = msg.status
            s.metrics.observe_camera(st.camera_id, st.state.value, st.frames_decoded, st.frames_delivered)
        elif isinstance(msg, EventMsg):
            self._on_event(msg.event, msg)
        elif isinstance(msg, ClipMsg):
            updated = s.intake.accept_clip(msg)
            if updated is not None:
                s.publisher.outbox_notify()
                # the console's live queue: the alert again, now with its clip (ready/partial/failed)
                s.live.publish("alert_clip", updated.model_dump(mode="json", by_alias=True))
        elif isinstance(msg, ConditionMsg):
            if s.cases is not None:
                self._announce_cases(
                    s.cases.on_condition(msg.camera_id, msg.event_type, msg.zone, msg.active, msg.ts)
                )
        elif isinstance(msg, CameraFailed):
            log.error("camera %s cannot be analysed: %s", msg.camera_id, msg.error)
            s.board.mark_down(msg.camera_id, msg.error)
        elif isinstance(msg, WorkerFailed):
            log.error("worker %d: %s", msg.worker, msg.error)
            s.pool[msg.worker].failed = msg.error
            s.board.mark_worker_down(msg.worker, msg.error)

    def _on_event(self, event: RuleEvent, msg: EventMsg | None) -> None:
        """A rule's event (or the board's camera_offline) becomes an alert, if the camera runs here."""
        s = self.services
        camera = s.scheduler.running(event.camera_id)
        if camera is None:
            log.error("dropping event from unknown camera %s", event.camera_id)
            return
        fence = s.cluster.fence(event.camera_id) if s.cluster is not None else None
        alert = s.intake.accept(
            event, msg.snapshot_jpeg if msg else None, camera, msg.alert_id if msg else None,
            msg.clip if msg else None, fence,
        )  # fmt: skip
        s.publisher.outbox_notify()
        if alert is not None:
            s.live.publish("alert", alert.model_dump(mode="json", by_alias=True))
            s.metrics.alerts.labels(alert.event_type).inc()

    def _announce_cases(self, changes: list[Any]) -> None:
        """Case changes are already in the outbox (same transaction); wake the publisher, tell the console."""
        if changes:
            self.services.publisher.outbox_notify()
            if self.services.webhook is not None:
                self.services.webhook.notify()
        for change in changes:
            log.info("case %s: %s (%s), held by %s", change.number, change.state, change.action,
                     change.payload.get("assignee") or "nobody")  # fmt: skip
            self.services.live.publish("case", change.payload)

    def _handle_inbound(self) -> None:
        """Inbound MQTT: case commands from the command platform (every one gets a reply, none can crash
        us) and, on a node of several, the other nodes' camera status."""
        s = self.services
        while True:
            try:
                topic, payload = s.publisher.inbound.get_nowait()
            except queue.Empty:
                return
            if s.cluster is not None and s.cluster.heard(topic, payload):
                continue
            if s.commands is None:
                continue
            reply = s.commands.handle_and_queue(topic, payload)
            log.info("command on %s: %s", topic, "ok" if reply.ok else f"refused ({reply.error})")
            s.publisher.outbox_notify()
            if reply.ok:
                s.live.publish(
                    "case", {"case_id": reply.case_id, "state": reply.state, "number": reply.number}
                )

    def _prune_outbox(self) -> None:
        """Sent MQTT messages older than `storage.outbox_retention_days` (unsent ones always stay)."""
        try:
            removed = self.services.store.prune_sent(self.services.config.storage.outbox_retention_days)
        except Exception as exc:  # the database is away: the next round retries
            log.error("outbox retention failed: %s", _first_line(exc))
            return
        if removed:
            log.info("outbox retention: removed %d sent messages", removed)

    def _prune_media(self) -> None:
        """Snapshots and clips, by age and total size (sentinel.alerts.retention)."""
        s = self.services
        storage = s.config.storage
        try:
            report = prune_media(
                storage.data_dir, datetime.now(s.tz).date(), storage.snapshot_retention_days,
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
