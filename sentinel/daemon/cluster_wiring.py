"""The supervisor's side of a cluster (PostgreSQL): joining as a node, starting and stopping cameras as their
leases come and go, the leader's hand-over of a dead node's messages, and what the other nodes publish,
heard back from the broker so this node's console shows the whole system. The leases themselves are kept by
`cluster_member.ClusterMember` (its own thread); this module only applies its decisions."""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
from typing import TYPE_CHECKING, Any

from sentinel.alerts.models import set_this_node
from sentinel.cluster.leases import NodeIdInUse, list_nodes
from sentinel.cluster.member import ClusterMember, Start, Stop
from sentinel.cluster.metrics import ClusterMetrics
from sentinel.daemon.messages import AddCamera, RemoveCamera
from sentinel.ingest.reader import CameraState

if TYPE_CHECKING:
    from sentinel.daemon.supervisor import Supervisor

log = logging.getLogger(__name__)


class ClusterWiring:
    def __init__(self, sup: Supervisor, member: ClusterMember, node_id: str) -> None:
        self.sup = sup
        self.member = member
        self.node_id = node_id
        self.remote_cameras: dict[str, dict[str, Any]] = {}  # other nodes' camera status, heard on MQTT
        self.metrics = ClusterMetrics(sup.metrics.registry, member)

    @classmethod
    def join(cls, sup: Supervisor) -> ClusterWiring | None:
        """On PostgreSQL this process is one node of possibly several: cameras are leased, not simply run.
        None on SQLite. Raises StartupError (id in use, database trouble)."""
        from sentinel.daemon.supervisor import StartupError

        assert sup.store is not None
        engine = sup.store.engine
        if engine.dialect.name != "postgresql":
            return None
        node = sup.config.node
        node_id = node.id or socket.gethostname()
        set_this_node(node_id)
        console = sup.config.console
        member = ClusterMember(
            engine,
            node,
            node_id,
            camera_ids=lambda: [c.id for c in sup.config.cameras if c.enabled],
            host=socket.gethostname(),
            pid=os.getpid(),
            console_url=f"http://{console.host}:{console.port}" if console.enabled else None,
        )
        try:
            member.join()
        except NodeIdInUse as exc:
            raise StartupError(str(exc)) from None
        except Exception as exc:
            raise StartupError(f"cannot join the cluster: {type(exc).__name__}: {_first_line(exc)}") from None
        sup.board.node_id = node_id
        log.info(
            "node %s: cameras are leased through PostgreSQL (lease %.0f s, renewed every %.1f s%s)",
            node_id, node.lease_ttl, node.renew_every,
            f", at most {node.max_cameras} cameras" if node.max_cameras else "",
        )  # fmt: skip
        return cls(sup, member, node_id)

    # ---------------------------------------------------------------- cameras as leases come and go

    def apply_leases(self) -> None:
        """Start the cameras this node claimed, stop the ones it lost or handed back."""
        sup = self.sup
        for camera_id in self.member.overdue():
            self.stop_camera(camera_id, "its lease could not be renewed in time (database unreachable?)")
        while True:
            try:
                decision = self.member.decisions.get_nowait()
            except queue.Empty:
                return
            if isinstance(decision, Start):
                if self.member.held().get(decision.camera_id) != decision.epoch:
                    continue  # lost again before we got to start it (a late loop, an overdue lease)
                camera = next((c for c in sup.config.cameras if c.id == decision.camera_id), None)
                if camera is None or not camera.enabled:
                    self.member.drop(decision.camera_id)
                    continue
                if camera.id in sup.board.views:
                    continue  # already running here (taken back after a restart)
                worker = sup.pool.least_loaded()
                sup.board.add(camera, worker)
                sup.pool.send(worker, AddCamera(camera), drop=None)
                log.info(
                    "camera %s: leased (epoch %d), starting on worker %d", camera.id, decision.epoch, worker
                )
            elif isinstance(decision, Stop):
                self.stop_camera(decision.camera_id, decision.reason)

    def stop_camera(self, camera_id: str, reason: str) -> None:
        sup = self.sup
        view = sup.board.views.get(camera_id)
        if view is None:
            return
        log.info("camera %s: stopping here: %s", camera_id, reason)
        view.note = f"stopped on node {self.node_id}: {reason}"
        sup.board.publish(view, override_state=CameraState.stopped)  # the next owner says online
        del sup.board.views[camera_id]  # its events from now on are dropped, never stored
        sup.metrics.forget_camera(camera_id)
        sup.pool.send(view.worker, RemoveCamera(camera_id), drop=camera_id)

    # ---------------------------------------------------------------- leader work, shutdown

    def adopt_outbox(self) -> None:
        try:
            adopted = self.member.leader.adopt_orphaned_outbox()
        except Exception as exc:
            log.warning("could not look for messages left by other nodes: %s", _first_line(exc))
            return
        if adopted and self.sup.publisher is not None:
            log.info("sending %d messages left unsent by nodes that are gone", adopted)
            self.sup.publisher.rescan()

    def other_nodes_alive(self) -> bool:
        try:
            return any(n.alive and n.id != self.node_id for n in list_nodes(self.member.leases.engine))
        except Exception:
            return True  # unknown: do not declare the site offline

    # ---------------------------------------------------------------- the whole system, for the console

    def heard(self, topic: str, payload: bytes) -> bool:
        """What the nodes publish, heard back from the broker (this node's own messages come back too: the
        console tolerates repeats). False for what is not such a message (case commands)."""
        sup = self.sup
        parts = topic[len(sup.prefix) + 1 :].split("/")
        if parts[0] not in ("cameras", "alerts", "cases"):
            return False
        try:
            message = json.loads(payload) if payload else None
        except ValueError:
            return True
        if parts[0] == "cameras" and len(parts) == 3:
            camera_id = parts[1]
            old = self.remote_cameras.pop(camera_id, None)
            if isinstance(message, dict):
                self.remote_cameras[camera_id] = message
                if camera_id not in sup.board.views and (old or {}).get("state") != message.get("state"):
                    sup.live.publish("camera", message)
        elif parts[0] == "alerts" and len(parts) == 3 and isinstance(message, dict):
            if message.get("camera_id") not in sup.board.views:
                sup.live.publish("alert", message)
        elif parts[0] == "cases" and isinstance(message, dict):
            sup.live.publish("case", message)
        return True

    def camera_statuses(self) -> list[dict[str, Any]]:
        """Every camera of the registry: this node's own views, the others' last published status."""
        local = self.sup.board.statuses()
        seen = {str(c["camera_id"]) for c in local}
        known = {c.id for c in self.sup.config.cameras}
        remote = [
            dict(st) for cid, st in list(self.remote_cameras.items()) if cid not in seen and cid in known
        ]
        return local + remote


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
