"""The services `sentinel run` is made of, built once by the composition root (`compose.py`) and handed to the
supervisor as one immutable bundle. Each part got its collaborators through its constructor; nothing here is
set or swapped after the bundle is made (live reload changes the camera registry's contents, not the bundle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sentinel.alerts.store import AlertStore
from sentinel.cases.commands import CaseCommands
from sentinel.cases.engine import CaseEngine
from sentinel.cases.webhook.sender import WebhookSender
from sentinel.cluster.node import ClusterNode
from sentinel.config.models import SentinelConfig
from sentinel.console.live import LiveFeed
from sentinel.console.metrics import SentinelMetrics
from sentinel.console.server import ConsoleServer
from sentinel.daemon.camera_board import CameraBoard
from sentinel.daemon.camera_scheduler import CameraRegistry, CameraScheduler
from sentinel.daemon.intake import AlertIntake
from sentinel.daemon.live_reload import LiveReload
from sentinel.daemon.workers import WorkerPool
from sentinel.mqtt.embedded_broker import EmbeddedBroker
from sentinel.mqtt.publisher import MqttPublisher


class StartupError(Exception):
    """A problem that stops `sentinel run` before it starts (message is for the operator)."""


@dataclass(frozen=True)
class Services:
    config: SentinelConfig  # as started; live reload replaces only the camera registry's contents
    tz: ZoneInfo
    store: AlertStore
    broker: EmbeddedBroker | None  # None: an external broker (mqtt.url)
    publisher: MqttPublisher
    broker_url: str
    pool: WorkerPool  # the workers, each with its own results channel (the supervisor reads them all)
    board: CameraBoard
    registry: CameraRegistry
    scheduler: CameraScheduler
    intake: AlertIntake
    cases: CaseEngine | None  # None: cases.enabled is false
    commands: CaseCommands | None  # inbound case commands (with the case engine)
    live: LiveFeed  # alerts, cases and camera status for the console's SSE stream
    metrics: SentinelMetrics
    console: ConsoleServer | None  # built, started by the supervisor; None: console.enabled is false
    cluster: ClusterNode | None  # on PostgreSQL: this node's part in the cluster; None: one node runs all
    reload: LiveReload | None  # None: no live reload of the camera registry
    webhook: WebhookSender | None = None  # posts queued case changes; None: no `webhook:` section

    @property
    def node_id(self) -> str | None:
        return self.cluster.node_id if self.cluster is not None else None

    def camera_statuses(self) -> list[dict[str, Any]]:
        """Every camera of the system for the console: this node's own, and on a cluster the others'."""
        return self.cluster.camera_statuses() if self.cluster is not None else self.scheduler.statuses()
