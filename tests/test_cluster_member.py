"""A node's membership (sentinel.cluster.member) against a real PostgreSQL: fair shares, handing cameras
back when a node joins, and fencing when the node is cut off from the database (a TCP gate in front of the
real server) — it stops its cameras before any other node can claim them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from sentinel.alerts.schema import Alert
from sentinel.alerts.store import AlertStore
from sentinel.cluster.leases import CameraLeases, Lease, LeaseLost
from sentinel.cluster.member import ClusterMember, Start, Stop
from sentinel.config.models import NodeConfig
from sentinel.storage.db import make_engine, migrate
from tests.support.gated_port import GatedPort
from tests.support.pg import PgDatabase
from tests.test_case_engine import event_types, make_alert
from tests.test_cluster_leases import expire

CAMERAS = [f"cam{i}" for i in range(6)]


@pytest.fixture
def db(pg_database: PgDatabase) -> Iterator[tuple[str, Engine]]:
    pg_database.reset()
    engine = make_engine(pg_database.url)
    migrate(engine)
    yield pg_database.url, engine
    engine.dispose()


def member(
    engine: Engine,
    name: str,
    ttl: float = 4.0,
    renew: float = 1.0,
    cameras: list[str] = CAMERAS,
    limit: int = 0,
) -> ClusterMember:
    node = NodeConfig(id=name, lease_ttl=ttl, renew_interval=renew, max_cameras=limit)
    m = ClusterMember(
        engine, node, name, camera_ids=lambda: list(cameras), host="test", pid=hash(name) % 30000
    )
    m.join()
    return m


def decisions(m: ClusterMember) -> list[Start | Stop]:
    out: list[Start | Stop] = []
    while not m.decisions.empty():
        out.append(m.decisions.get_nowait())
    return out


def test_nodes_split_the_cameras_and_hand_back_when_one_joins(db: tuple[str, Engine]) -> None:
    _, engine = db
    a = member(engine, "a")
    a.cycle()
    assert a.held() == {}  # a fresh node waits one cycle for the others that start with it
    a.cycle()
    assert sorted(a.held()) == CAMERAS and all(isinstance(d, Start) for d in decisions(a))
    b = member(engine, "b")
    b.cycle()
    a.cycle()  # sees two live nodes: hands half back (stopped now, released next cycle)
    stops = [d for d in decisions(a) if isinstance(d, Stop)]
    assert len(stops) == 3 and len(a.held()) == 3
    b.cycle()
    assert b.held() == {}  # not released yet: never on two nodes at once
    a.cycle()  # releases
    b.cycle()
    assert sorted(b.held()) == sorted(d.camera_id for d in stops)
    assert not set(a.held()) & set(b.held())
    # a clean stop frees a's cameras at once
    a.leave()
    b.cycle()  # live nodes: 1 → share 6
    assert sorted(b.held()) == CAMERAS
    b.leave()


def test_an_uneven_split_is_as_even_as_it_can_be_and_limits_are_kept(db: tuple[str, Engine]) -> None:
    _, engine = db
    seven = [f"cam{i}" for i in range(7)]
    nodes = [
        member(engine, "a", cameras=seven),
        member(engine, "b", cameras=seven),
        member(engine, "c", cameras=seven),
    ]
    for _ in range(4):  # join, wait a cycle, claim, settle
        for m in nodes:
            m.cycle()
    assert [len(m.held()) for m in nodes] == [3, 2, 2]  # not 3/3/1: the extra camera goes to the lowest id
    # a node limited to one camera joins: the others keep the rest, evenly
    d = member(engine, "d", cameras=seven, limit=1)
    nodes.append(d)
    for _ in range(4):
        for m in nodes:
            m.cycle()
    assert [len(m.held()) for m in nodes] == [2, 2, 2, 1]
    held = [c for m in nodes for c in m.held()]
    assert sorted(held) == seven  # every camera on exactly one node


def test_cut_off_from_the_database_a_node_stops_its_cameras_before_another_can_claim_them(
    db: tuple[str, Engine],
) -> None:
    url, direct = db
    ttl = 4.0
    upstream = make_url(url)
    gate = GatedPort(upstream.port or 5432)
    gated = make_engine(upstream.set(host="127.0.0.1", port=gate.port).render_as_string(hide_password=False))
    a = member(gated, "a", ttl=ttl, renew=1.0)
    a.cycle()
    a.cycle()
    assert len(a.held()) == len(CAMERAS)
    a.start()
    time.sleep(1.5)
    assert not a.overdue()  # renewing fine
    gate.shut()  # the node's database connections are cut, new ones refused
    cut = time.monotonic()
    other = CameraLeases(direct, "b", ttl)  # a node that can reach the database
    other.join("test", 2, 0, None)
    stopped: list[str] = []
    while not stopped and time.monotonic() - cut < ttl + 2:
        stopped = a.overdue()
        time.sleep(0.05)
    t_stop = time.monotonic()
    assert sorted(stopped) == CAMERAS, "the cut-off node must stop its cameras by itself"
    assert t_stop - cut < ttl
    # at that moment nobody can have the cameras yet: their leases have not expired in the database
    assert other.claim(CAMERAS, 10) == []
    got: list[Lease] = []
    while len(got) < len(CAMERAS) and time.monotonic() - cut < ttl + 5:
        got += other.claim(CAMERAS, 10)
        time.sleep(0.1)
    t_claim = time.monotonic()
    assert sorted(lease.camera_id for lease in got) == CAMERAS
    assert t_stop < t_claim
    assert a.last_error is not None and "lease renewal failed" in a.last_error
    a.leave()  # cannot reach the database: logs and returns
    gate.shut()
    gated.dispose()


def test_an_alert_is_not_stored_for_a_camera_the_node_lost(db: tuple[str, Engine]) -> None:
    _, engine = db
    a = member(engine, "a")
    a.cycle()
    a.cycle()
    fence = a.fence("cam0")
    store = AlertStore(engine)
    store.record(alert("cam0"), "t", None, fence)  # held: stored
    assert len(store.alerts()) == 1
    # the lease moves to another node (a was stalled past its lease time)
    expire(engine, "a")
    b = CameraLeases(engine, "b", 4.0)
    b.join("test", 3, 0, None)
    assert [x.camera_id for x in b.claim(["cam0"], 1)] == ["cam0"]
    with pytest.raises(LeaseLost):
        store.record(alert("cam0"), "t", None, fence)
    assert len(store.alerts()) == 1 and store.outbox_depth() == 1
    with pytest.raises(LeaseLost):
        store.record(alert("cam9"), "t", None, a.fence("cam9"))  # never held here


def alert(camera: str) -> Alert:
    now = datetime(2026, 11, 23, 9, tzinfo=UTC)
    return make_alert(event_types(), now, camera=camera)


def test_sentinel_nodes_lists_nodes_cameras_and_the_leader(db: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = db
    a = member(engine, "node-a")
    a.cycle()
    a.cycle()
    config = tmp_path / "sentinel.yaml"
    config.write_text(f'site: {{id: t}}\ndatabase: {{url: "{url}"}}\n', encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "sentinel.cli.main", "nodes", "--config", str(config)], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "node-a" in out.stdout and "alive" in out.stdout and "leader" in out.stdout
    assert "6 cameras" in out.stdout and "cam3" in out.stdout and "epoch 1" in out.stdout
    password = make_url(url).password
    assert not password or password not in out.stdout + out.stderr
    sqlite = tmp_path / "single.yaml"
    sqlite.write_text("site: {id: t}\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "sentinel.cli.main", "nodes", "--config", str(sqlite)], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and "single node" in out.stderr and "Traceback" not in out.stderr
