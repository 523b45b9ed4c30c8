"""Failover and rebalance times of a 3-node cluster (real RTSP, PostgreSQL, mosquitto), over several kills.

Starts 12 RTSP cameras and three `sentinel run` nodes (tests/support/cluster.py), waits for the 4/4/4 spread,
then repeatedly `kill -9`s one node (the leader first, then the others in turn), measures the time until
each of its cameras is analysed on a surviving node (a status with frames from that node), restarts the node
and measures the time until the cameras are spread 4/4/4 again. Prints each kill and the medians.

    .venv/bin/python bench/failover.py [--kills 3] [--ttl 6] [--renew 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentinel.cluster.overview import cluster_overview  # noqa: E402
from sentinel.storage.db import open_database  # noqa: E402
from tests.mqtt_helpers import Recorder  # noqa: E402
from tests.support import pg  # noqa: E402
from tests.support.cluster import CAMERAS, NODES, PREFIX, owners, stints, wait_until, write_configs  # noqa: E402
from tests.support.daemon import Daemon  # noqa: E402
from tests.support.footage import vtest_h264  # noqa: E402
from tests.support.servers import Mosquitto, RtspServer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--ttl", type=float, default=6.0, help="node.lease_ttl, seconds")
    ap.add_argument("--renew", type=float, default=2.0, help="node.renew_interval, seconds")
    args = ap.parse_args()
    try:
        database = pg.create(pg.find_server())
    except pg.PgUnavailable as exc:
        print(f"no PostgreSQL: {exc}", file=sys.stderr)
        return 1
    engine = open_database(database.url, Path(".")).engine
    failovers: list[float] = []
    rebalances: list[float] = []
    footage = vtest_h264()
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            Mosquitto() as broker,
            RtspServer({c: footage for c in CAMERAS}) as rtsp,
        ):
            rec = Recorder(broker.port, f"{PREFIX}/#")
            configs = write_configs(Path(tmp), broker, rtsp, database.url, args.ttl, args.renew)
            daemons = {n: Daemon(configs[n], name=n) for n in NODES}
            try:
                start = wait_until(lambda: sorted(owners(engine).values()) == [4, 4, 4], 120, "spread 4/4/4")
                print(f"3 nodes, 12 cameras spread 4/4/4 {start:.1f} s after start "
                      f"(lease {args.ttl:g} s, renewed every {args.renew:g} s)")  # fmt: skip
                for k in range(args.kills):
                    overview = cluster_overview(engine).nodes
                    victim = (
                        next(n.node.id for n in overview if n.leader) if k == 0 else NODES[k % len(NODES)]
                    )
                    lost = {lease.camera_id for n in overview if n.node.id == victim for lease in n.leases}
                    t_kill = time.monotonic()
                    daemons[victim].kill()
                    survivors = [n for n in NODES if n != victim]

                    def moved(
                        lost: set[str] = lost, survivors: list[str] = survivors, t0: float = t_kill
                    ) -> bool:
                        runs = stints(rec)
                        return all(
                            any(s.node in survivors and s.start > t0 and s.frames > 0 for s in runs[c]) for c in lost
                        )  # fmt: skip

                    failover = wait_until(moved, 60, "failover")
                    daemons[victim] = Daemon(configs[victim], name=f"{victim}-{k}")
                    rebalance = wait_until(
                        lambda: sorted(owners(engine).values()) == [4, 4, 4], 90, "rebalance"
                    )
                    failovers.append(failover)
                    rebalances.append(rebalance)
                    print(f"kill -9 {victim} ({len(lost)} cameras): analysed elsewhere after {failover:.1f} s; "
                          f"back to 4/4/4 {rebalance:.1f} s after its restart")  # fmt: skip
                    time.sleep(3)
            finally:
                for d in daemons.values():
                    d.stop()
                rec.close()
    finally:
        engine.dispose()
        database.drop()
    print(f"median failover {statistics.median(failovers):.1f} s (min {min(failovers):.1f}, max "
          f"{max(failovers):.1f}); median rebalance {statistics.median(rebalances):.1f} s over {len(failovers)} kills")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
