"""This process as one node of a cluster (PostgreSQL): joining, starting and stopping cameras as their leases
come and go, the leader's hand-over of a dead node's messages, and what the other nodes publish, heard back
from the broker so this node's console shows the whole system.

The leases themselves are kept by `member.ClusterMember` (its own thread); this module only applies its
decisions, through a `CameraRunner` it is given (the daemon's camera scheduler). It never reaches into the
daemon: everything it needs comes in through its constructor.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from sentinel.cluster.heard import HeardFromCluster
from sentinel.cluster.leases import NodeIdInUse, list_nodes
from sentinel.cluster.member import ClusterMember, Start, Stop
from sentinel.config.models import CameraConfig, NodeConfig

log = logging.getLogger(__name__)


class ClusterJoinError(Exception):
    """This node cannot join the cluster (its id is in use, the database is away); the message says why."""


class CameraRunner(Protocol):
    """What the cluster asks of whoever runs cameras on this node."""

    def start(self, camera: CameraConfig) -> int:
        """Run the camera here (no-op when it runs already); the worker it runs on."""
        ...

    def stop(self, camera_id: str, reason: str | None = None) -> bool:
        """Stop running it here; False when it did not run here."""
        ...

    def runs(self, camera_id: str) -> bool: ...

    def statuses(self) -> list[dict[str, object]]:
        """The status of each camera running here, as published on MQTT."""
        ...


def node_id_for(node: NodeConfig) -> str:
    return node.id or socket.gethostname()


def join_cluster(
    engine: Engine,
    node: NodeConfig,
    node_id: str,
    camera_ids: Callable[[], list[str]],
    console_url: str | None,
) -> ClusterMember:
    """Register this node (taking back what a previous run under the same id held); the member is not yet
    renewing (`member.start()`). Raises ClusterJoinError."""
    member = ClusterMember(
        engine, node, node_id, camera_ids=camera_ids, host=socket.gethostname(), pid=os.getpid(),
        console_url=console_url,
    )  # fmt: skip
    try:
        member.join()
    except NodeIdInUse as exc:
        raise ClusterJoinError(str(exc)) from None
    except Exception as exc:
        raise ClusterJoinError(f"cannot join the cluster: {type(exc).__name__}: {_first_line(exc)}") from None
    log.info(
        "node %s: cameras are leased through PostgreSQL (lease %.0f s, renewed every %.1f s%s)",
        node_id, node.lease_ttl, node.renew_every,
        f", at most {node.max_cameras} cameras" if node.max_cameras else "",
    )  # fmt: skip
    return member


class ClusterNode:
    def __init__(
        self,
        member: ClusterMember,
        runner: CameraRunner,
        cameras: Callable[[], list[CameraConfig]],
        prefix: str,
        announce: Callable[[str, dict[str, Any]], object],
        rescan_outbox: Callable[[], None],
    ) -> None:
        """`cameras`: the registry as now loaded; `announce(kind, payload)`: tell this node's console;
        `rescan_outbox`: wake the publisher for rows adopted from a dead node."""
        self.member = member
        self.node_id = member.node_id
        self._runner = runner
        self._cameras = cameras
        self._rescan_outbox = rescan_outbox
        self._heard = HeardFromCluster(
            prefix, runner.runs, lambda: {c.id for c in cameras()}, runner.statuses, announce
        )  # other nodes' camera statuses, alerts and cases, heard on MQTT

    # ---------------------------------------------------------------- cameras as leases come and go

    def apply_leases(self) -> None:
        """Start the cameras this node claimed, stop the ones it lost or handed back."""
        for camera_id in self.member.overdue():
            self._stop(camera_id, "its lease could not be renewed in time (database unreachable?)")
        while True:
            try:
                decision = self.member.decisions.get_nowait()
            except queue.Empty:
                return
            if isinstance(decision, Start):
                self._start(decision)
            elif isinstance(decision, Stop):
                self._stop(decision.camera_id, decision.reason)

    def _start(self, decision: Start) -> None:
        if self.member.held().get(decision.camera_id) != decision.epoch:
            return  # lost again before we got to start it (a late loop, an overdue lease)
        camera = next((c for c in self._cameras() if c.id == decision.camera_id and c.enabled), None)
        if camera is None:
            self.member.drop(decision.camera_id)
            return
        if self._runner.runs(camera.id):
            return  # already running here (taken back after a restart)
        worker = self._runner.start(camera)
        log.info("camera %s: leased (epoch %d), starting on worker %d", camera.id, decision.epoch, worker)

    def _stop(self, camera_id: str, reason: str) -> None:
        if self._runner.runs(camera_id):
            log.info("camera %s: stopping here: %s", camera_id, reason)
            self._runner.stop(camera_id, f"stopped on node {self.node_id}: {reason}")

    def released(self, camera_id: str) -> None:
        """The camera left the registry (and was stopped here): give its lease back."""
        self.member.drop(camera_id)

    def registry_changed(self) -> None:
        self.member.registry_changed()  # added cameras are claimed like any free one

    # ---------------------------------------------------------------- leases, leader work, health, shutdown

    def start(self) -> None:
        """Start renewing and claiming: cameras start as their leases are claimed."""
        self.member.start()

    def leave(self) -> None:
        """After the cameras stopped: free the leases at once, for the other nodes to take."""
        self.member.leave()

    def fence(self, camera_id: str) -> Callable[[Session], None]:
        """For the alert's transaction: refuses it unless this node still holds the camera (member.fence)."""
        return self.member.fence(camera_id)

    @property
    def renew_every(self) -> float:
        return self.member.every

    def is_leader(self) -> bool:
        return self.member.is_leader()

    def adopt_outbox(self) -> None:
        try:
            adopted = self.member.leader.adopt_orphaned_outbox()
        except Exception as exc:
            log.warning("could not look for messages left by other nodes: %s", _first_line(exc))
            return
        if adopted:
            log.info("sending %d messages left unsent by nodes that are gone", adopted)
            self._rescan_outbox()

    def health(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "leader": self.member.is_leader(),
            "live_nodes": self.member.live_nodes,
            "lease_error": self.member.last_error,
        }

    def other_nodes_alive(self) -> bool:
        try:
            return any(n.alive and n.id != self.node_id for n in list_nodes(self.member.leases.engine))
        except Exception:
            return True  # unknown: do not declare the site offline

    # ---------------------------------------------------------------- the whole system, for the console

    def heard(self, topic: str, payload: bytes) -> bool:
        """What the nodes publish, heard back from the broker (checked: `sentinel.cluster.heard`). False for
        what is not such a message (case commands)."""
        return self._heard.heard(topic, payload)

    def camera_statuses(self) -> list[dict[str, Any]]:
        """Every camera of the registry: this node's own, the others' last published (valid) status."""
        return self._heard.camera_statuses()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
