"""Camera leases, node heartbeats and the leader lease on a real PostgreSQL (sentinel.cluster)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from sentinel.cluster.leader import LeaderLease
from sentinel.cluster.leases import (
    CameraLeases,
    Lease,
    LeaseLost,
    NodeIdInUse,
    list_leases,
    list_nodes,
    shares,
)
from sentinel.cluster.models import CameraLeaseRow, NodeRow
from sentinel.storage.db import make_engine, migrate
from sentinel.storage.outbox import OutboxRow
from tests.support.pg import PgDatabase

CAMERAS = [f"cam{i:02d}" for i in range(12)]


@pytest.fixture
def engine(pg_database: PgDatabase) -> Iterator[Engine]:
    pg_database.reset()
    engine = make_engine(pg_database.url)
    migrate(engine)
    yield engine
    engine.dispose()


def node(engine: Engine, name: str, ttl: float = 5.0, pid: int = 1) -> CameraLeases:
    leases = CameraLeases(engine, name, ttl)
    leases.join("host", pid, 0, None)
    leases.register_cameras(CAMERAS)
    return leases


def expire(engine: Engine, node_id: str) -> None:
    """What the passing of a lease time does to a node that stopped renewing."""
    with Session(engine) as s, s.begin():
        s.execute(
            update(CameraLeaseRow)
            .where(CameraLeaseRow.node_id == node_id)
            .values(expires_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 1.0))
        )
        s.execute(
            update(NodeRow)
            .where(NodeRow.id == node_id)
            .values(heartbeat_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 60.0))
        )


def test_shares_are_even_deterministic_and_respect_node_limits() -> None:
    assert shares(12, [("b", 0), ("a", 0), ("c", 0)]) == {"a": 4, "b": 4, "c": 4}
    assert shares(10, [("c", 0), ("b", 0), ("a", 0)]) == {"a": 4, "b": 3, "c": 3}  # lowest ids take the extra
    assert shares(12, [("a", 0), ("b", 0)]) == {"a": 6, "b": 6}
    # a limited node's remainder goes to the others, still evenly
    assert shares(12, [("a", 2), ("b", 0), ("c", 0)]) == {"a": 2, "b": 5, "c": 5}
    assert shares(12, [("a", 2), ("b", 3)]) == {"a": 2, "b": 3}  # not enough room: 7 stay unowned
    assert shares(3, [("a", 0), ("b", 0), ("c", 0), ("d", 0)]) == {"a": 1, "b": 1, "c": 1, "d": 0}
    assert shares(0, [("a", 0)]) == {"a": 0}
    for n in range(1, 40):  # every camera has a node while there is room, and no two shares differ by two
        got = shares(n, [(f"n{i}", 0) for i in range(7)])
        assert sum(got.values()) == n and max(got.values()) - min(got.values()) <= 1


def test_claims_split_free_cameras_and_raise_the_epoch(engine: Engine) -> None:
    a, b = node(engine, "a"), node(engine, "b")
    got_a = a.claim(CAMERAS, 4)
    got_b = b.claim(CAMERAS, 100)
    assert len(got_a) == 4 and len(got_b) == 8
    assert not {x.camera_id for x in got_a} & {x.camera_id for x in got_b}
    assert all(x.epoch == 1 for x in got_a + got_b)
    assert a.claim(CAMERAS, 4) == []  # nothing free any more


def test_concurrent_claims_never_take_the_same_camera(engine: Engine) -> None:
    nodes = [node(engine, f"n{i}") for i in range(4)]
    results: dict[str, list[Lease]] = {}
    barrier = threading.Barrier(len(nodes))

    def claim(n: CameraLeases) -> None:
        barrier.wait()
        results[n.node_id] = n.claim(CAMERAS, 6)

    threads = [threading.Thread(target=claim, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    taken = [lease.camera_id for got in results.values() for lease in got]
    assert sorted(taken) == sorted(set(taken))  # no camera twice
    assert len(taken) == len(CAMERAS)  # SKIP LOCKED: a node that met locked rows took others


def test_renew_keeps_held_leases_and_reports_lost_ones(engine: Engine) -> None:
    a, b = node(engine, "a"), node(engine, "b")
    held = {x.camera_id: x.epoch for x in a.claim(CAMERAS, 3)}
    kept, live = a.renew(held)
    assert kept == set(held) and sorted(live) == [("a", 0), ("b", 0)]
    expire(engine, "a")
    stolen = b.claim(CAMERAS, 12)
    assert {x.camera_id for x in stolen} >= set(held)  # expired leases are free to claim
    assert all(x.epoch == 2 for x in stolen if x.camera_id in held)
    kept, live = a.renew(held)
    assert kept == set()  # a learns it lost them
    assert len(live) == 2  # its own renewal made it live again


def test_fencing_check_refuses_a_stale_epoch_or_an_expired_lease(engine: Engine) -> None:
    a, b = node(engine, "a"), node(engine, "b")
    (lease,) = a.claim(["cam00"], 1)
    with Session(engine) as s, s.begin():
        a.check(s, lease)  # held: fine
    expire(engine, "a")
    with Session(engine) as s, s.begin(), pytest.raises(LeaseLost):
        a.check(s, lease)  # expired, even before anyone took it
    (taken,) = b.claim(["cam00"], 1)
    with Session(engine) as s, s.begin(), pytest.raises(LeaseLost):
        a.check(s, lease)
    with Session(engine) as s, s.begin():
        b.check(s, taken)


def test_fencing_check_blocks_a_claim_until_the_writer_commits(engine: Engine) -> None:
    a, b = node(engine, "a"), node(engine, "b")
    (lease,) = a.claim(["cam00"], 1)
    claimed: list[list[Lease]] = []
    with Session(engine) as s, s.begin():
        a.check(s, lease)  # FOR SHARE: the row is locked against updates until we commit
        expire_thread = threading.Thread(target=lambda: claimed.append(b.claim(["cam00"], 1)))
        expire_thread.start()
        expire_thread.join(1.0)
        assert claimed == [[]]  # SKIP LOCKED: the claimer passed the row by instead of taking it


def test_release_frees_only_our_epoch_and_leave_frees_everything(engine: Engine) -> None:
    a, b = node(engine, "a"), node(engine, "b")
    leases = a.claim(CAMERAS, 4)
    a.release([leases[0], Lease(leases[1].camera_id, leases[1].epoch + 5)])
    got = b.claim(CAMERAS, 12)
    ids = {x.camera_id for x in got}
    assert leases[0].camera_id in ids and leases[1].camera_id not in ids
    a.leave()
    assert {x.camera_id for x in b.claim(CAMERAS, 12)} == {x.camera_id for x in leases[1:]}
    nodes = {n.id: n for n in list_nodes(engine)}
    assert nodes["a"].stopped and not nodes["a"].alive and nodes["b"].alive
    assert nodes["b"].cameras == 12


def test_rejoining_under_the_same_id_takes_back_its_leases_at_a_new_epoch(engine: Engine) -> None:
    a = node(engine, "a", pid=10)
    old = a.claim(CAMERAS, 5)
    # a live process under the same id (renewed just now) refuses a second one
    with pytest.raises(NodeIdInUse, match="in use by pid 10"):
        CameraLeases(engine, "a", 5.0).join("host", 11, 0, None)
    expire(engine, "a")
    with Session(engine) as s, s.begin():  # the old process is dead, its leases not yet expired
        s.execute(
            update(CameraLeaseRow)
            .where(CameraLeaseRow.node_id == "a")
            .values(expires_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, 30.0))
        )
    again = CameraLeases(engine, "a", 5.0).join("host", 11, 0, None)
    assert {x.camera_id for x in again} == {x.camera_id for x in old}
    assert all(x.epoch == 2 for x in again)


def test_list_leases_shows_owner_and_ages(engine: Engine) -> None:
    a = node(engine, "a")
    a.claim(["cam00"], 1)
    info = {x.camera_id: x for x in list_leases(engine)}
    assert info["cam00"].node_id == "a" and info["cam00"].age is not None and info["cam00"].age >= 0
    assert info["cam00"].expires_in is not None and 0 < info["cam00"].expires_in <= 5.0
    assert info["cam01"].node_id is None and info["cam01"].age is None


def test_forget_cameras_drops_rows_of_removed_cameras_unless_held(engine: Engine) -> None:
    a = node(engine, "a")
    a.claim(["cam00"], 1)
    a.forget_cameras(keep=["cam05"])
    left = {x.camera_id for x in list_leases(engine)}
    assert left == {"cam00", "cam05"}  # cam00 is still held: it goes once its node lets it go


def test_one_leader_at_a_time_and_a_new_epoch_after_it_dies(engine: Engine) -> None:
    node(engine, "a"), node(engine, "b")
    la, lb = LeaderLease(engine, "a", 5.0), LeaderLease(engine, "b", 5.0)
    assert la.acquire_or_renew() == 1
    assert lb.acquire_or_renew() is None
    assert la.acquire_or_renew() == 1  # renewing keeps the epoch
    assert la.holder() == "a"
    with Session(engine) as s, s.begin():
        s.execute(
            update(la_table()).values(expires_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 1.0))
        )
    assert lb.acquire_or_renew() == 2
    assert la.acquire_or_renew() is None
    lb.release()
    assert la.acquire_or_renew() == 3


def la_table():  # type: ignore[no-untyped-def]
    from sentinel.cluster.models import ClusterLockRow

    return ClusterLockRow


def test_leader_adopts_unsent_messages_of_dead_nodes_only(engine: Engine) -> None:
    node(engine, "a"), node(engine, "b"), node(engine, "c")
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        for owner in ("a", "b", None, "a"):
            s.add(
                OutboxRow(
                    topic="t", payload="{}", qos=1, retain=False, created_at=now, attempts=0, node_id=owner
                )
            )
        s.add(
            OutboxRow(
                topic="t",
                payload="{}",
                qos=1,
                retain=False,
                created_at=now,
                attempts=0,
                node_id="b",
                sent_at=now,
            )
        )
    expire(engine, "b")
    adopted = LeaderLease(engine, "c", 5.0).adopt_orphaned_outbox()
    assert adopted == 2  # b's unsent row and the single-node row; a is alive, b's sent row stays b's
    with Session(engine) as s:
        owners = sorted(
            str(o) for o in s.scalars(select(OutboxRow.node_id).where(OutboxRow.sent_at.is_(None)))
        )
    assert owners == ["a", "a", "c", "c"]


def test_heartbeat_age_is_measured_by_the_database_clock(engine: Engine) -> None:
    a = node(engine, "a")
    time.sleep(1.5)
    (info,) = list_nodes(engine)
    assert info.heartbeat_age >= 1.45 and info.alive
    a.renew({})
    (info,) = list_nodes(engine)
    # the renew reset the age (measured by the database: a loaded machine may take a moment between the two)
    assert info.heartbeat_age < 1.0
