"""The leader lease: one named row in `cluster_locks`, held by one node at a time and renewed like a camera
lease. The leader does the work that is not per camera (case timers, media retention, stale clips, adopting
a dead node's unsent messages). Leadership only says who should do that work; the work itself is also safe
against a stale leader (case timers are claimed row by row, `sentinel.cases.engine`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from sentinel.cluster.models import ClusterLockRow, NodeRow
from sentinel.storage.outbox import OutboxRow

LEADER = "leader"


class LeaderLease:
    def __init__(self, engine: Engine, node_id: str, ttl: float) -> None:
        self.engine = engine
        self.node_id = node_id
        self.ttl = ttl

    def acquire_or_renew(self) -> int | None:
        """Our epoch as leader if we hold (or just took) the lease, else None."""
        expires = func.now() + timedelta(seconds=self.ttl)
        table = ClusterLockRow.__table__
        stmt = (
            insert(ClusterLockRow)
            .values(name=LEADER, node_id=self.node_id, epoch=1, expires_at=expires)
            .on_conflict_do_update(
                index_elements=[ClusterLockRow.name],
                set_={
                    "node_id": self.node_id,
                    "expires_at": expires,
                    # a new leader raises the epoch; the same one renewing keeps it
                    "epoch": table.c.epoch
                    + (table.c.node_id.is_distinct_from(self.node_id)).cast(ClusterLockRow.epoch.type),
                },
                where=or_(
                    table.c.node_id == self.node_id,
                    table.c.node_id.is_(None),
                    table.c.expires_at < func.now(),
                ),
            )
            .returning(ClusterLockRow.epoch)
        )
        with Session(self.engine) as s, s.begin():
            return s.scalar(stmt)

    def release(self) -> None:
        with Session(self.engine) as s, s.begin():
            s.execute(
                update(ClusterLockRow)
                .where(ClusterLockRow.name == LEADER, ClusterLockRow.node_id == self.node_id)
                .values(node_id=None, expires_at=func.now())
            )

    def holder(self) -> str | None:
        with Session(self.engine) as s:
            return s.scalar(
                select(ClusterLockRow.node_id).where(
                    ClusterLockRow.name == LEADER, ClusterLockRow.expires_at > func.now()
                )
            )

    def adopt_orphaned_outbox(self) -> int:
        """Unsent messages of nodes that are gone (stopped, or silent past their lease time), and of rows
        written by a single-node run, become this node's to send. A node that comes back later has lost
        nothing: its rows went out under the same ids."""
        with Session(self.engine) as s, s.begin():
            alive = select(NodeRow.id).where(
                NodeRow.stopped_at.is_(None),
                NodeRow.heartbeat_at > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, NodeRow.lease_ttl),
            )
            result = s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.sent_at.is_(None),
                    or_(OutboxRow.node_id.is_(None), OutboxRow.node_id.not_in(alive)),
                )
                .values(node_id=self.node_id)
            )
            return int(getattr(result, "rowcount", 0) or 0)
