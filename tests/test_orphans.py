"""A worker process never outlives its supervisor, and SIGTERM ends it within a bounded time.

`sentinel run` runs as a child process with a busy camera (alerts every few seconds, each with its JPEG) on the
real RTSP server. The worst moment for the supervisor to die is when its queue is full: the worker's queue
feeder is then blocked writing to a pipe nobody will read, and a process exiting normally waits for that
feeder for ever. The tests get there on purpose: SIGSTOP the supervisor until a worker thread is blocked in
write(2) on a pipe (tests/support/procs.py reads that from /proc).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mqtt_helpers import Recorder
from tests.support.daemon import Daemon
from tests.support.footage import vtest_h264
from tests.support.procs import Proc, descendants, wait_all_gone, writing_to_full_pipe
from tests.support.servers import Mosquitto, RtspServer
from tests.test_faults import PREFIX, busy_camera, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
def busy_daemon(tmp_path: Path) -> Iterator[tuple[Daemon, list[Proc]]]:
    """A daemon that has published an alert, and its processes (worker, resource tracker) at that moment."""
    procs: list[Proc] = []
    with Mosquitto() as broker, RtspServer({"cam": vtest_h264(768, 576, fps=10, gop=10)}) as rtsp:
        recorder = Recorder(broker.port, f"{PREFIX}/alerts/#")
        daemon = Daemon(write_config(tmp_path, broker.url, [busy_camera("cam-a", rtsp.url("cam"))]))
        try:
            recorder.wait_for(lambda m: True, timeout=90)
            procs = descendants(daemon.proc.pid)
            yield daemon, procs
        finally:
            recorder.close()
            if daemon.proc.poll() is None:
                os.kill(daemon.proc.pid, signal.SIGCONT)
                daemon.kill()
            for proc in procs:  # whatever the test left behind
                proc.kill()


def _workers(procs: list[Proc]) -> list[Proc]:
    return [p for p in procs if "spawn_main" in p.cmdline]


def _fill_the_queue(daemon: Daemon, worker: Proc) -> None:
    """Stop the supervisor reading until the worker's messages fill the pipe between them."""
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    deadline = time.monotonic() + 60
    while not writing_to_full_pipe(worker.pid):
        assert time.monotonic() < deadline, "the worker's queue did not fill in 60 s"
        time.sleep(0.2)


def test_sigkill_of_the_supervisor_with_a_full_queue_leaves_no_process(
    busy_daemon: tuple[Daemon, list[Proc]],
) -> None:
    daemon, procs = busy_daemon
    workers = _workers(procs)
    assert len(workers) == 1, procs
    assert any("resource_tracker" in p.cmdline for p in procs), procs
    _fill_the_queue(daemon, workers[0])
    daemon.kill()  # SIGKILL (a stopped process dies of it too)
    left = wait_all_gone(procs, 5.0)
    assert left == [], f"alive 5 s after the supervisor's SIGKILL: {left}"


def test_sigterm_ends_a_worker_blocked_on_a_full_queue(busy_daemon: tuple[Daemon, list[Proc]]) -> None:
    daemon, procs = busy_daemon
    (worker,) = _workers(procs)
    _fill_the_queue(daemon, worker)
    os.kill(worker.pid, signal.SIGTERM)
    left = wait_all_gone([worker], 15.0)  # TERM_GRACE (8 s) and a margin
    assert left == [], "the worker ignored SIGTERM"
    assert "SIGTERM: stopping" in daemon.output()
