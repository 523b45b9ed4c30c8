"""Database load of camera leases at district scale: N nodes sharing C cameras (default 100 and 20,000).

Creates a throw-away database on the local PostgreSQL (as the tests find it: SENTINEL_TEST_DATABASE_URL or
127.0.0.1:5432), registers the cameras, lets every simulated node claim its fair share, then runs renewal
cycles exactly as `sentinel run` does (`CameraLeases.renew`: heartbeat + renew held leases + count live
nodes, one transaction per node) and prints, per cycle: median time of one node's renewal, the database time
of a whole cycle (all nodes, one after another on one connection: the work the server does per cycle), the
WAL written per cycle, and what that means at the default renewal interval (lease_ttl 15 s / 3 = 5 s).
Also: the time to claim a share, and a failover (one node's cameras expire and the others claim them).

    .venv/bin/python bench/lease_load.py [--nodes 100] [--cameras 20000] [--cycles 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, text, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from sentinel.cluster.leases import CameraLeases, shares  # noqa: E402
from sentinel.cluster.models import CameraLeaseRow, NodeRow  # noqa: E402
from sentinel.storage.db import open_database  # noqa: E402
from tests.support import pg  # noqa: E402


def wal_lsn(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        lsn = conn.execute(text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")).scalar_one()
    return int(lsn)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--cameras", type=int, default=20_000)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--ttl", type=float, default=15.0)
    args = ap.parse_args()
    try:
        admin = pg.find_server()
    except pg.PgUnavailable as exc:
        print(f"no PostgreSQL to measure on: {exc}", file=sys.stderr)
        return 1
    database = pg.create(admin)
    engine = open_database(database.url, Path(".")).engine
    try:
        cameras = [f"cam{i:05d}" for i in range(args.cameras)]
        nodes = [CameraLeases(engine, f"node{i:03d}", args.ttl) for i in range(args.nodes)]
        for i, node in enumerate(nodes):
            node.join(f"host{i}", 1000 + i, 0, None)
        t0 = time.perf_counter()
        nodes[0].register_cameras(cameras)
        register_s = time.perf_counter() - t0
        share = shares(len(cameras), [(n.node_id, 0) for n in nodes])[nodes[0].node_id]
        held: list[dict[str, int]] = []
        claim_times = []
        for node in nodes:
            t0 = time.perf_counter()
            got = node.claim(cameras, share)
            claim_times.append(time.perf_counter() - t0)
            held.append({lease.camera_id: lease.epoch for lease in got})
        print(f"{len(cameras)} cameras, {len(nodes)} nodes, {share} each; PostgreSQL on this machine "
              f"(load average {os.getloadavg()[0]:.2f})")  # fmt: skip
        print(f"register all cameras: {register_s * 1000:.0f} ms; claim a share: median "
              f"{statistics.median(claim_times) * 1000:.1f} ms")  # fmt: skip

        per_node: list[float] = []
        per_cycle: list[float] = []
        wal: list[int] = []
        for _ in range(args.cycles):
            lsn0 = wal_lsn(engine)
            c0 = time.perf_counter()
            for node, mine in zip(nodes, held, strict=True):
                t0 = time.perf_counter()
                kept, _live = node.renew(mine)
                per_node.append(time.perf_counter() - t0)
                assert len(kept) == len(mine)
            per_cycle.append(time.perf_counter() - c0)
            wal.append(wal_lsn(engine) - lsn0)
        every = args.ttl / 3
        cycle = statistics.median(per_cycle)
        print(f"renewal of one node ({share} leases + heartbeat + live count): median "
              f"{statistics.median(per_node) * 1000:.1f} ms, p95 "
              f"{sorted(per_node)[int(0.95 * (len(per_node) - 1))] * 1000:.1f} ms")  # fmt: skip
        print(f"a whole cycle (all {len(nodes)} nodes, sequential): median {cycle * 1000:.0f} ms of database "
              f"time = {cycle / every * 100:.1f} % of one server core at one cycle per {every:g} s; "
              f"{len(cameras) / every:.0f} lease rows updated per second")  # fmt: skip
        print(f"WAL per cycle: median {statistics.median(wal) / 1e6:.2f} MB "
              f"= {statistics.median(wal) / every / 1e6:.2f} MB/s")  # fmt: skip

        # failover: one node's leases expire, the others claim them in their next cycle
        victim = held[0]
        with Session(engine) as s, s.begin():
            s.execute(
                update(CameraLeaseRow).where(CameraLeaseRow.node_id == nodes[0].node_id)
                .values(expires_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 1.0))
            )  # fmt: skip
            s.execute(
                update(NodeRow).where(NodeRow.id == nodes[0].node_id)
                .values(heartbeat_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 60.0))
            )  # fmt: skip
        new_share = max(shares(len(cameras), [(n.node_id, 0) for n in nodes[1:]]).values())
        t0 = time.perf_counter()
        taken = 0
        for node, mine in zip(nodes[1:], held[1:], strict=True):
            got = node.claim([c for c in victim], new_share - len(mine))
            taken += len(got)
        print(f"failover of one node's {len(victim)} cameras: the other {len(nodes) - 1} nodes claimed "
              f"{taken} in {(time.perf_counter() - t0) * 1000:.0f} ms of database time (one cycle)")  # fmt: skip
    finally:
        engine.dispose()
        database.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
