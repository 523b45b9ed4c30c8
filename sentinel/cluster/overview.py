"""The cluster as `sentinel nodes` and the console's `/api/nodes` show it: nodes, their cameras with lease
ages, who leads, and cameras no node holds."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from sentinel.cluster.leader import LeaderLease
from sentinel.cluster.leases import LeaseInfo, NodeInfo, list_leases, list_nodes


@dataclass(frozen=True)
class NodeOverview:
    node: NodeInfo
    leader: bool
    leases: list[LeaseInfo]


@dataclass(frozen=True)
class ClusterOverview:
    nodes: list[NodeOverview]
    unowned: list[str]  # cameras whose lease is free or expired

    def as_dicts(self) -> list[dict[str, object]]:
        return [
            {
                "id": n.node.id,
                "host": n.node.host,
                "alive": n.node.alive,
                "stopped": n.node.stopped,
                "leader": n.leader,
                "heartbeat_age_s": round(n.node.heartbeat_age, 1),
                "started_at": n.node.started_at.isoformat(timespec="seconds"),
                "cameras": [lease.camera_id for lease in n.leases],
                "max_cameras": n.node.max_cameras,
                "console_url": n.node.console_url,
            }
            for n in self.nodes
        ]


def cluster_overview(engine: Engine) -> ClusterOverview:
    leases = list_leases(engine)
    leader = LeaderLease(engine, "", 0).holder()
    held: dict[str, list[LeaseInfo]] = {}
    unowned = []
    for lease in leases:
        if lease.node_id is None or lease.expires_in is None or lease.expires_in <= 0:
            unowned.append(lease.camera_id)
        else:
            held.setdefault(lease.node_id, []).append(lease)
    nodes = [NodeOverview(n, n.id == leader, held.get(n.id, [])) for n in list_nodes(engine)]
    return ClusterOverview(nodes, unowned)
