"""Camera leases and node heartbeats in PostgreSQL: every statement here is one short transaction, timed by the
database's clock (`now()`), so nodes never compare their own clocks with each other.

A lease row per camera: `node_id` (None: free), `epoch` (raised at every claim) and `expires_at`. A node
renews its leases and its heartbeat together; a camera whose lease expired, or that was released, is free to
claim. Claims take rows `FOR UPDATE SKIP LOCKED`, so nodes claiming at the same moment split the free cameras
instead of queueing on the same rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, String, any_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session

from sentinel.cluster.models import CameraLeaseRow, NodeRow


class LeaseLost(Exception):
    """This node no longer holds the camera (at that epoch): it must not store or publish for it."""


class NodeIdInUse(Exception):
    """Another live process already runs under this node id."""


@dataclass(frozen=True)
class Lease:
    camera_id: str
    epoch: int


@dataclass(frozen=True)
class NodeInfo:
    id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_age: float  # seconds since the node last renewed, by the database's clock
    alive: bool
    stopped: bool
    max_cameras: int
    console_url: str | None
    cameras: int


@dataclass(frozen=True)
class LeaseInfo:
    camera_id: str
    node_id: str | None
    epoch: int
    age: float | None  # seconds since it was claimed
    expires_in: float | None  # negative: expired


def shares(cameras: int, nodes: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Each live node's share of the cameras, from (node id, max_cameras or 0 = no limit): as even as the
    limits allow (unlimited nodes differ by at most one camera), what a limited node cannot take spread over
    the others, and the extra cameras of an uneven split to the lowest ids. Every node computes the same
    answer from the same list, so they agree without talking to each other."""
    caps = {node: (limit or cameras) for node, limit in nodes}
    out = dict.fromkeys(caps, 0)
    left, open_nodes = cameras, sorted(caps)
    while left > 0 and open_nodes:
        base, extra = divmod(left, len(open_nodes))
        still_open, given = [], 0
        for i, node in enumerate(open_nodes):
            take = min(base + (1 if i < extra else 0), caps[node] - out[node])
            out[node] += take
            given += take
            if out[node] < caps[node]:
                still_open.append(node)
        if given == 0:
            break
        left -= given
        open_nodes = still_open
    return out


def _ids(ids: Iterable[str]) -> Any:
    """Camera ids as one array parameter (`= ANY(:ids)`): 20,000 ids bind as one value, not 20,000."""
    return bindparam(None, list(ids), type_=ARRAY(String(64)))


def _ttl(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


class CameraLeases:
    """The database side of one node's membership; `sentinel.cluster.member` drives it."""

    def __init__(self, engine: Engine, node_id: str, ttl: float) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("camera leases need PostgreSQL")
        self.engine = engine
        self.node_id = node_id
        self.ttl = ttl

    def _taken(self) -> dict[str, Any]:
        """A lease row as this node takes it: ours, at the next epoch, for a lease time from now."""
        now = func.now()
        return dict(node_id=self.node_id, epoch=CameraLeaseRow.epoch + 1, expires_at=now + _ttl(self.ttl),
                    acquired_at=now, renewed_at=now)  # fmt: skip

    # ---------------------------------------------------------------- node

    def join(self, host: str, pid: int, max_cameras: int, console_url: str | None) -> list[Lease]:
        """Register (or re-register) this node; returns the leases a previous run under the same id left
        behind (it is gone: this process now answers for the id), which the caller takes over at once.
        Raises NodeIdInUse when another process renewed under this id within the lease time."""
        with Session(self.engine) as s, s.begin():
            row = s.get(NodeRow, self.node_id, with_for_update=True)
            now = s.scalar(select(func.now()))
            assert now is not None
            if row is not None and row.stopped_at is None and (row.host, row.pid) != (host, pid):
                age = (now - row.heartbeat_at).total_seconds()
                if age < row.lease_ttl:
                    raise NodeIdInUse(
                        f"node id {self.node_id!r} is in use by pid {row.pid} on {row.host} "
                        f"(renewed {age:.0f} s ago): give each node its own node.id"
                    )
            values = dict(
                host=host, pid=pid, started_at=now, heartbeat_at=now, stopped_at=None,
                lease_ttl=self.ttl, max_cameras=max_cameras, console_url=console_url,
            )  # fmt: skip
            s.execute(
                insert(NodeRow)
                .values(id=self.node_id, **values)
                .on_conflict_do_update(index_elements=[NodeRow.id], set_=values)
            )
            # the leases of our previous life: nobody else may have them (they are ours until they expire),
            # so taking them over at a new epoch is safe and spares the cameras a lease time of downtime
            rows = s.execute(
                update(CameraLeaseRow)
                .where(CameraLeaseRow.node_id == self.node_id)
                .values(**self._taken())
                .returning(CameraLeaseRow.camera_id, CameraLeaseRow.epoch)
            ).all()
        return [Lease(c, e) for c, e in rows]

    def leave(self) -> None:
        """Clean shutdown: free every lease at once (the others need not wait for them to expire)."""
        with Session(self.engine) as s, s.begin():
            s.execute(
                update(CameraLeaseRow)
                .where(CameraLeaseRow.node_id == self.node_id)
                .values(node_id=None, expires_at=func.now())
            )
            s.execute(update(NodeRow).where(NodeRow.id == self.node_id).values(stopped_at=func.now()))

    # ---------------------------------------------------------------- the registry

    def register_cameras(self, camera_ids: Iterable[str]) -> None:
        """A lease row for every camera in the registry (existing rows untouched)."""
        ids = sorted(set(camera_ids))
        if not ids:
            return
        with Session(self.engine) as s, s.begin():
            s.execute(
                insert(CameraLeaseRow)
                .values([{"camera_id": c, "node_id": None, "epoch": 0} for c in ids])
                .on_conflict_do_nothing(index_elements=[CameraLeaseRow.camera_id])
            )

    def forget_cameras(self, keep: Collection[str]) -> int:
        """Delete lease rows of cameras no longer in the registry (free or expired ones only)."""
        with Session(self.engine) as s, s.begin():
            result = s.execute(
                delete(CameraLeaseRow).where(
                    CameraLeaseRow.camera_id.not_in(list(keep)),
                    or_(CameraLeaseRow.node_id.is_(None), CameraLeaseRow.expires_at < func.now()),
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # ---------------------------------------------------------------- one renewal cycle

    def renew(self, held: dict[str, int]) -> tuple[set[str], list[tuple[str, int]]]:
        """Heartbeat and renew the leases in `held` (camera → epoch). Returns the cameras still ours at
        their epoch (the others were lost: expired and taken, or released by an operator) and the live nodes
        with their camera limits, in one transaction."""
        with Session(self.engine) as s, s.begin():
            s.execute(update(NodeRow).where(NodeRow.id == self.node_id).values(heartbeat_at=func.now()))
            kept: set[str] = set()
            if held:
                rows = s.execute(
                    update(CameraLeaseRow)
                    .where(
                        CameraLeaseRow.node_id == self.node_id,
                        CameraLeaseRow.camera_id == any_(_ids(held)),
                        CameraLeaseRow.expires_at > func.now(),
                    )
                    .values(expires_at=func.now() + _ttl(self.ttl), renewed_at=func.now())
                    .returning(CameraLeaseRow.camera_id, CameraLeaseRow.epoch)
                ).all()
                kept = {c for c, e in rows if held.get(c) == e}
            live = s.execute(
                select(NodeRow.id, NodeRow.max_cameras).where(
                    NodeRow.stopped_at.is_(None),
                    NodeRow.heartbeat_at
                    > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, NodeRow.lease_ttl),
                )
            ).all()
        return kept, [(node, int(limit)) for node, limit in live]

    def claim(self, candidates: Collection[str], room: int) -> list[Lease]:
        """Take up to `room` free or expired cameras among `candidates`, each at a new epoch."""
        if room <= 0 or not candidates:
            return []
        with Session(self.engine) as s, s.begin():
            free = (
                select(CameraLeaseRow.camera_id)
                .where(
                    CameraLeaseRow.camera_id == any_(_ids(candidates)),
                    or_(CameraLeaseRow.node_id.is_(None), CameraLeaseRow.expires_at < func.now()),
                )
                .order_by(CameraLeaseRow.camera_id)
                .limit(room)
                .with_for_update(skip_locked=True)
            )
            ids = list(s.scalars(free))
            if not ids:
                return []
            rows = s.execute(
                update(CameraLeaseRow)
                .where(CameraLeaseRow.camera_id == any_(_ids(ids)))
                .values(**self._taken())
                .returning(CameraLeaseRow.camera_id, CameraLeaseRow.epoch)
            ).all()
        return sorted((Lease(c, e) for c, e in rows), key=lambda lease: lease.camera_id)

    def release(self, leases: Iterable[Lease]) -> None:
        """Give cameras back (after this node stopped them), only at the epoch we hold them."""
        for lease in leases:
            with Session(self.engine) as s, s.begin():
                s.execute(
                    update(CameraLeaseRow)
                    .where(
                        CameraLeaseRow.camera_id == lease.camera_id,
                        CameraLeaseRow.node_id == self.node_id,
                        CameraLeaseRow.epoch == lease.epoch,
                    )
                    .values(node_id=None, expires_at=func.now())
                )

    # ---------------------------------------------------------------- fencing

    def check(self, s: Session, lease: Lease) -> None:
        """In the caller's transaction: raise LeaseLost unless this node holds the camera at that epoch and
        the lease has not expired. `FOR SHARE` keeps a claimer from taking the row until that transaction
        ends, so what is written under the check was written while the lease held."""
        held = s.scalar(
            select(CameraLeaseRow.camera_id)
            .where(
                CameraLeaseRow.camera_id == lease.camera_id,
                CameraLeaseRow.node_id == self.node_id,
                CameraLeaseRow.epoch == lease.epoch,
                CameraLeaseRow.expires_at > func.now(),
            )
            .with_for_update(read=True)
        )
        if held is None:
            raise LeaseLost(
                f"camera {lease.camera_id}: this node no longer holds its lease (epoch {lease.epoch})"
            )


# ---------------------------------------------------------------- reading the cluster (CLI, console)


def list_nodes(engine: Engine) -> list[NodeInfo]:
    with Session(engine) as s:
        now = s.scalar(select(func.now()))
        assert now is not None
        counts = dict(
            s.execute(
                select(CameraLeaseRow.node_id, func.count())
                .where(CameraLeaseRow.node_id.is_not(None), CameraLeaseRow.expires_at > func.now())
                .group_by(CameraLeaseRow.node_id)
            ).all()
        )
        out = []
        for row in s.scalars(select(NodeRow).order_by(NodeRow.id)):
            age = (now - row.heartbeat_at).total_seconds()
            stopped = row.stopped_at is not None
            out.append(
                NodeInfo(
                    row.id,
                    row.host,
                    row.pid,
                    row.started_at,
                    age,
                    not stopped and age < row.lease_ttl,
                    stopped,
                    row.max_cameras,
                    row.console_url,
                    int(counts.get(row.id, 0)),
                )  # fmt: skip
            )
        return out


def list_leases(engine: Engine) -> list[LeaseInfo]:
    with Session(engine) as s:
        now = s.scalar(select(func.now()))
        assert now is not None
        out = []
        for row in s.scalars(select(CameraLeaseRow).order_by(CameraLeaseRow.camera_id)):
            held = row.node_id is not None and row.expires_at is not None
            out.append(
                LeaseInfo(
                    row.camera_id,
                    row.node_id,
                    row.epoch,
                    (now - row.acquired_at).total_seconds() if held and row.acquired_at else None,
                    (row.expires_at - now).total_seconds() if held and row.expires_at else None,
                )
            )
        return out
