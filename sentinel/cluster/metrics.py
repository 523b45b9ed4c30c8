"""Prometheus figures of this node's cluster membership, on the node's own `/metrics`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge

if TYPE_CHECKING:
    from sentinel.cluster.member import ClusterMember


class ClusterMetrics:
    def __init__(self, registry: CollectorRegistry, member: ClusterMember) -> None:
        node = member.node_id
        cameras = Gauge(
            "sentinel_node_cameras", "Cameras this node holds leases for", ["node"], registry=registry
        )
        cameras.labels(node).set_function(lambda: float(len(member.held())))
        leader = Gauge(
            "sentinel_node_leader", "1 while this node holds the leader lease", ["node"], registry=registry
        )
        leader.labels(node).set_function(lambda: 1.0 if member.is_leader() else 0.0)
        live = Gauge(
            "sentinel_cluster_live_nodes", "Live nodes as this node last saw", ["node"], registry=registry
        )
        live.labels(node).set_function(lambda: float(member.live_nodes))
        renewing = Gauge(
            "sentinel_node_lease_renewal_ok", "1 while lease renewals succeed, 0 after a failure", ["node"],
            registry=registry,
        )  # fmt: skip
        renewing.labels(node).set_function(lambda: 0.0 if member.last_error else 1.0)
