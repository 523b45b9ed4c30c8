"""This node's part in a cluster of `sentinel run` nodes (PostgreSQL only; sentinel.cluster).

A thread renews the node's leases every `node.renew_every` seconds, claims free cameras up to the node's fair
share, hands surplus cameras back when nodes join, and keeps or takes the leader lease. It never touches the
workers itself: it queues `Start`/`Stop` decisions that the supervisor's loop applies.

Fencing, in two layers:
* local: each lease has a deadline on this process's monotonic clock, `ttl - margin` after the start of the
  renewal that last extended it (the database set its expiry *after* that start). The supervisor stops every
  camera whose deadline passed — e.g. while the database is unreachable — before any other node may claim it.
* in the database: an alert is stored only in a transaction that sees the lease still held at its epoch
  (`CameraLeases.check`), so a stalled node that wakes up late cannot store an alert for a camera it lost.

A camera handed back for rebalancing is stopped first and released one cycle later, so it never runs on two
nodes at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from sentinel.cluster.leader import LeaderLease
from sentinel.cluster.leases import CameraLeases, Lease, LeaseLost, shares
from sentinel.config.models import NodeConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Start:
    camera_id: str
    epoch: int


@dataclass(frozen=True)
class Stop:
    camera_id: str
    reason: str


Decision = Start | Stop


class ClusterMember:
    def __init__(
        self,
        engine: Engine,
        node: NodeConfig,
        node_id: str,
        camera_ids: Callable[[], list[str]],
        host: str,
        pid: int,
        console_url: str | None = None,
    ) -> None:
        self.node = node
        self.node_id = node_id
        self.ttl = node.lease_ttl
        self.every = node.renew_every
        self.margin = min(self.every, self.ttl / 4)  # stop this long before the database may free a lease
        self.leases = CameraLeases(engine, node_id, self.ttl)
        self.leader = LeaderLease(engine, node_id, self.ttl)
        self.camera_ids = camera_ids
        self.host, self.pid, self.console_url = host, pid, console_url
        self.decisions: queue.SimpleQueue[Decision] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}  # camera → epoch, running (or starting) here
        self._deadline: dict[str, float] = {}  # camera → monotonic time it must be stopped by
        self._releasing: dict[str, Lease] = {}  # stopped for a rebalance, released at the next cycle
        self._leader_until = 0.0
        self.leader_epoch: int | None = None
        self.live_nodes = 1
        self.peers: list[tuple[str, int]] = []  # live nodes (id, max_cameras) at the last renewal
        self.last_error: str | None = None
        self.cycles = 0
        self._registry_changed = threading.Event()
        self._registry_changed.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cluster-member", daemon=True)

    # ---------------------------------------------------------------- lifecycle (supervisor thread)

    def join(self) -> None:
        """Register this node; take back what a previous run under the same id still held. Raises
        NodeIdInUse (another live process uses the id) or a database error."""
        now = time.monotonic()
        for lease in self.leases.join(self.host, self.pid, self.node.max_cameras, self.console_url):
            self._take(lease, now)

    def start(self) -> None:
        """Start renewing and claiming (after `join`)."""
        self._thread.start()

    def leave(self) -> None:
        """Clean shutdown, after the cameras stopped: free the leases and the leadership at once."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.every + 10)
        try:
            self.leader.release()
            self.leases.leave()
        except Exception as exc:  # the leases expire by themselves
            log.warning("could not release leases (they expire in %.0f s): %s", self.ttl, _first_line(exc))

    def registry_changed(self) -> None:
        self._registry_changed.set()

    # ---------------------------------------------------------------- what the supervisor asks

    def held(self) -> dict[str, int]:
        with self._lock:
            return dict(self._held)

    def is_leader(self) -> bool:
        return time.monotonic() < self._leader_until

    def overdue(self) -> list[str]:
        """Cameras whose lease could not be renewed in time: stop them now (they are forgotten here)."""
        now = time.monotonic()
        with self._lock:
            late = [c for c, t in self._deadline.items() if now >= t]
            for camera_id in late:
                self._forget(camera_id)
        return late

    def drop(self, camera_id: str) -> None:
        """The supervisor stopped the camera for its own reasons (removed from the registry): release it."""
        with self._lock:
            epoch = self._held.get(camera_id)
            if epoch is not None:
                self._forget(camera_id)
                self._releasing[camera_id] = Lease(camera_id, epoch)

    def fence(self, camera_id: str) -> Callable[[Session], None]:
        """A check for the alert's transaction: this node still holds the camera at the epoch it runs it."""
        with self._lock:
            epoch = self._held.get(camera_id)
        if epoch is None:
            lease = Lease(camera_id, -1)

            def refuse(_s: Session) -> None:
                raise LeaseLost(f"camera {lease.camera_id}: not held by this node")

            return refuse
        lease = Lease(camera_id, epoch)
        return lambda s: self.leases.check(s, lease)

    # ---------------------------------------------------------------- the renewal thread

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.cycle()
                self.last_error = None
            except Exception as exc:  # the database is away: deadlines stop the cameras in time
                error = f"lease renewal failed: {_first_line(exc)}"
                if error != self.last_error:
                    log.error("%s; cameras stop when their leases run out", error)
                self.last_error = error
            self._stop.wait(max(0.1, self.every - (time.monotonic() - started)))

    def cycle(self) -> None:
        """One round: release what was handed back, renew, lead, rebalance. Public for tests."""
        if self._registry_changed.is_set():
            self.leases.register_cameras(self.camera_ids())
            self._registry_changed.clear()  # only once it worked: a failed cycle registers again
        with self._lock:
            releasing = list(self._releasing.values())
            self._releasing.clear()
        if releasing:
            self.leases.release(releasing)
            log.info("released %s", ", ".join(lease.camera_id for lease in releasing))
        t0 = time.monotonic()
        held = self.held()
        kept, live = self.leases.renew(held)
        self.peers = live
        self.live_nodes = max(1, len(live))
        with self._lock:
            for camera_id in held:
                if camera_id not in self._held or self._held[camera_id] != held[camera_id]:
                    continue  # stopped meanwhile
                if camera_id in kept:
                    self._deadline[camera_id] = t0 + self.ttl - self.margin
                else:
                    self._forget(camera_id)
                    self.decisions.put(
                        Stop(camera_id, "its lease was lost (expired and taken by another node)")
                    )
        epoch = self.leader.acquire_or_renew()
        if epoch is not None:
            if epoch != self.leader_epoch:
                log.info("this node leads the cluster now (epoch %d)", epoch)
            self._leader_until = t0 + self.ttl - self.margin
        elif self.leader_epoch is not None:
            log.info("this node no longer leads the cluster")
            self._leader_until = 0.0
        self.leader_epoch = epoch
        self._rebalance(t0)
        self.cycles += 1

    def _rebalance(self, t0: float) -> None:
        registry = self.camera_ids()
        peers = self.peers
        if not any(node == self.node_id for node, _ in peers):
            peers = [*peers, (self.node_id, self.node.max_cameras)]
        target = shares(len(registry), peers)[self.node_id]
        with self._lock:
            held = sorted(self._held)
        if len(held) > target:
            # hand back the surplus: stopped now, released next cycle (never on two nodes at once)
            for camera_id in held[target:]:
                with self._lock:
                    epoch = self._held.get(camera_id)
                    if epoch is None:
                        continue
                    self._forget(camera_id)
                    self._releasing[camera_id] = Lease(camera_id, epoch)
                self.decisions.put(Stop(camera_id, f"handed to another node ({self.live_nodes} nodes share)"))
        elif len(held) < target and (self.cycles > 0 or held):
            # (not in the very first cycle of a fresh node: nodes started together see each other first
            # and split the cameras at once, instead of one taking all and handing most back)
            for lease in self.leases.claim([c for c in registry if c not in held], target - len(held)):
                with self._lock:
                    self._take(lease, t0)

    def _take(self, lease: Lease, t0: float) -> None:
        self._held[lease.camera_id] = lease.epoch
        self._deadline[lease.camera_id] = t0 + self.ttl - self.margin
        self.decisions.put(Start(lease.camera_id, lease.epoch))

    def _forget(self, camera_id: str) -> None:
        self._held.pop(camera_id, None)
        self._deadline.pop(camera_id, None)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
