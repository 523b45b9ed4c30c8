"""Each worker reports on a pipe of its own (sentinel.daemon.channels): a worker killed with SIGKILL in the
middle of a message stops neither the other workers nor the supervisor.

With one multiprocessing Queue for all workers it did: the writers share its lock and its pipe, and a worker
killed while its feeder thread is inside a write holds that lock for ever (every other worker's messages stop)
and leaves a torn message that the reader, holding the write end itself, waits for the rest of for ever.

The worst moment is made on purpose, as in tests/test_orphans.py: the reading side stops reading until the
victim's feeder thread is blocked in write(2) on its full pipe, i.e. in the middle of a message, and the
victim is killed right then.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from sentinel.config.models import CameraConfig, DetectorConfig
from sentinel.daemon.channels import ChannelWriter, ResultChannel, open_channel, receive
from sentinel.daemon.messages import CameraFailed, CameraStatusMsg, EventMsg, WorkerMessage
from sentinel.daemon.workers import WorkerPool
from tests.mqtt_helpers import Received, Recorder
from tests.support.daemon import Daemon
from tests.support.footage import vtest_h264, vtest_path
from tests.support.procs import Proc, descendants, wait_all_gone, writing_to_full_pipe
from tests.support.servers import Mosquitto, RtspServer
from tests.test_faults import PREFIX, _event, busy_camera, report, wait_until, write_config
from tests.test_orphans import _fill_the_queue, _workers

LARGE = 1_000_001  # bytes of "snapshot" per message: far more than a pipe holds (64 KiB)


def _burst(results: Connection, worker: int) -> None:
    """A worker process that sends alerts with a 1 MB snapshot for ever, numbered in `alert_id`, through the
    same writer a real worker uses."""
    out = ChannelWriter(results)
    event = _event(f"cam-{worker}")
    seq = 0
    while True:
        out.put(EventMsg(worker, event, os.urandom(LARGE), f"{worker}-{seq}"))
        seq += 1
        time.sleep(0.01)  # the writer's backlog stays small while nobody reads


def _seq(msg: WorkerMessage) -> int:
    assert isinstance(msg, EventMsg) and msg.alert_id is not None and msg.snapshot_jpeg is not None
    assert len(msg.snapshot_jpeg) == LARGE, "a message arrived incomplete"
    return int(msg.alert_id.split("-")[1])


class Reader:
    """The supervisor's side: every worker's channel, read together with `receive`."""

    def __init__(self, channels: dict[int, ResultChannel]) -> None:
        self.channels = channels
        self.got: dict[int, list[int]] = {w: [] for w in channels}
        self.calls = 0

    def pump(self, until: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, f"waited {timeout} s for {what}; got {self.counts()}"
            for msg in receive(list(self.channels.values()), 0.2):
                self.got[msg.worker].append(_seq(msg))
            self.calls += 1

    def counts(self) -> dict[int, int]:
        return {w: len(seqs) for w, seqs in self.got.items()}


@pytest.fixture
def two_writers() -> Iterator[tuple[dict[int, ResultChannel], dict[int, Any]]]:
    ctx = mp.get_context("spawn")
    channels: dict[int, ResultChannel] = {}
    procs: dict[int, Any] = {}
    try:
        for worker in (0, 1):
            with open_channel(ctx, worker) as (channel, writer):  # as WorkerPool._spawn does
                proc = ctx.Process(target=_burst, args=(writer, worker), daemon=True)
                proc.start()
            channels[worker], procs[worker] = channel, proc
        yield channels, procs
    finally:
        for proc in procs.values():
            proc.kill()
            proc.join(10)
        for channel in channels.values():
            channel.close()


@pytest.mark.timeout(120)
def test_a_writer_killed_mid_message_stops_neither_the_other_nor_the_reader(
    two_writers: tuple[dict[int, ResultChannel], dict[int, Any]],
) -> None:
    channels, procs = two_writers
    reader = Reader(channels)
    reader.pump(lambda: min(reader.counts().values()) >= 5, 60, "both writers")

    # nobody reads: the victim's feeder thread fills its pipe and blocks inside the write of a 1 MB message
    victim, other = procs[0], procs[1]
    wait_until(lambda: writing_to_full_pipe(victim.pid), 30, "the victim to block writing", step=0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(10)
    at_kill = reader.counts()

    # read again: the other writer's messages keep coming, the victim's channel ends
    reader.pump(lambda: channels[0].closed and len(reader.got[1]) >= at_kill[1] + 30, 60, "the other writer")
    assert other.is_alive()
    for worker, seqs in reader.got.items():  # each message whole, once, in order, none missing
        assert seqs == list(range(len(seqs))), (worker, seqs)
    assert channels[0].discarded > 0, "the victim was killed in the middle of a message"
    assert channels[0].discarded < LARGE + 1000  # that one message, nothing else
    assert not channels[1].closed
    # a closed channel is not waited on (a pipe at its end is always readable: that would spin)
    assert receive([channels[0]], 0.05) == []
    report(
        "writer killed mid-message", victim_messages=len(reader.got[0]), victim_after_kill=len(reader.got[0]) - at_kill[0],
        torn_bytes_dropped=channels[0].discarded, other_before_kill=at_kill[1], other_total=len(reader.got[1]),
        receive_calls=reader.calls,
    )  # fmt: skip


def test_messages_from_many_threads_arrive_whole_and_in_order_and_the_end_is_clean() -> None:
    """A worker puts from several threads at once (the loop, each camera's reader, the clip writer): every
    message arrives whole, each thread's in its order; closing the writer flushes, then the channel ends."""
    reader_end, writer_end = mp.get_context("spawn").Pipe(duplex=False)
    channel, writer = ResultChannel(3, reader_end), ChannelWriter(writer_end)  # both in this process
    threads, per_thread = 4, 150
    sizes = [10, 5000, 70_000, 300_001]  # below, around and above what the pipe holds

    def put_all(t: int) -> None:
        for i in range(per_thread):
            writer.put(CameraFailed(3, f"{t}-{i}", "x" * sizes[(t + i) % len(sizes)]))

    workers = [threading.Thread(target=put_all, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    got: list[CameraFailed] = []
    deadline = time.monotonic() + 60
    while len(got) < threads * per_thread:
        assert time.monotonic() < deadline, len(got)
        got += [m for m in receive([channel], 0.2) if isinstance(m, CameraFailed)]
    for w in workers:
        w.join()
    assert writer.close(timeout=10)
    wait_until(lambda: receive([channel], 0.1) == [] and channel.closed, 10, "the end of the pipe")
    assert channel.discarded == 0 and channel.received == threads * per_thread
    for t in range(threads):
        mine = [m for m in got if m.camera_id.startswith(f"{t}-")]
        assert [m.camera_id for m in mine] == [f"{t}-{i}" for i in range(per_thread)]
        assert all(len(m.error) == sizes[(t + i) % len(sizes)] for i, m in enumerate(mine))


# ---------------------------------------------------------------- a real WorkerPool


def _file_camera(camera_id: str) -> CameraConfig:
    return CameraConfig.model_validate(
        {"id": camera_id, "source": str(vtest_path()), "decode": "all", "analyze_fps": 2}
    )


@pytest.mark.slow
def test_the_pool_drains_and_replaces_a_killed_workers_channel(tmp_path: Path) -> None:
    """Two real workers (real model, a recording each): worker 0 is killed; its channel is drained and
    closed, worker 1 keeps reporting meanwhile, worker 0 comes back on a new channel and reports again."""
    pool = WorkerPool(
        mp.get_context("spawn"), DetectorConfig(), tmp_path / "cameras", logging.WARNING, limit=2
    )
    heard: list[WorkerMessage] = []
    downs: list[tuple[int, str]] = []

    def pump(until: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
            heard.extend(receive(pool.channels(), 0.2))
            pool.supervise(lambda index, why: downs.append((index, why)), heard.append)

    def statuses_from(worker: int, after: int = 0) -> int:
        return sum(1 for m in heard[after:] if isinstance(m, CameraStatusMsg) and m.worker == worker)

    try:
        pool.start([_file_camera("a"), _file_camera("b")])
        assert [h.spec.cameras[0].id for h in pool.handles] == ["a", "b"]
        pump(lambda: statuses_from(0) >= 2 and statuses_from(1) >= 2, 90, "both workers")
        old = pool[0].results
        assert old is not None and pool[0].process is not None
        pool[0].process.kill()  # SIGKILL
        killed_at = len(heard)
        pump(lambda: bool(downs), 30, "the pool to notice")
        assert downs[0][0] == 0 and "died (exit code -9)" in downs[0][1], downs
        assert old.closed and old not in pool.channels()  # drained and closed, never waited on again
        pump(lambda: statuses_from(1, killed_at) >= 3, 30, "worker 1 to keep reporting")
        pump(lambda: pool[0].results is not old and statuses_from(0, killed_at) >= 2, 90, "worker 0 again")
        new = pool[0].results
        assert new is not None and not new.closed and new in pool.channels()
        assert pool.summary().restarts == 1 and pool.summary().alive == 2
    finally:
        pool.stop()


# ---------------------------------------------------------------- the daemon: two workers, one killed


def _frames(recorder: Recorder, camera_id: str) -> list[tuple[float, dict[str, Any]]]:
    """(arrival, status) of a camera's status messages."""
    topic = f"{PREFIX}/cameras/{camera_id}/status"
    return [(t, m.json()) for t, m in recorder.timed() if m.topic == topic and m.payload]


def _is_alert_of(camera_id: str) -> Callable[[Received], bool]:
    return lambda m: m.topic == f"{PREFIX}/alerts/crowd_gathering/{camera_id}"


@pytest.mark.slow
def test_sigkill_of_a_worker_mid_message_leaves_the_other_cameras_running(tmp_path: Path) -> None:
    """`sentinel run` with two workers (one busy camera each, alerts with their JPEGs): the supervisor is
    stopped until one worker is blocked writing to its full pipe, that worker is killed, the supervisor goes
    on. The other camera's statuses keep coming from its worker (its frame count grows), the supervisor keeps
    publishing health, restarts the dead worker on a fresh channel, and its camera comes back."""
    footage = vtest_h264(768, 576, fps=10, gop=10)
    with Mosquitto() as broker, RtspServer({"a": footage, "b": footage}) as rtsp:
        recorder = Recorder(broker.port, f"{PREFIX}/#")
        cameras = [busy_camera("cam-a", rtsp.url("a")), busy_camera("cam-b", rtsp.url("b"))]
        daemon = Daemon(write_config(tmp_path, broker.url, cameras, workers=2))
        procs: list[Proc] = []
        try:
            for cam in ("cam-a", "cam-b"):  # alerts, with their JPEGs, come from both workers
                recorder.wait_for(_is_alert_of(cam), 90)
            procs = descendants(daemon.proc.pid)
            workers = sorted(_workers(procs), key=lambda p: (p.start, p.pid))
            assert len(workers) == 2, procs
            victim = workers[0]  # the first spawned: worker 0, cam-a (cameras are shared round-robin)

            _fill_the_queue(daemon, victim)  # SIGSTOP the supervisor until the victim blocks in write(2)
            victim.kill()
            assert wait_all_gone([victim], 5.0) == []
            t_kill = time.monotonic()
            os.kill(daemon.proc.pid, signal.SIGCONT)

            # the dead worker is seen for what it is, and its camera marked
            down = recorder.wait_for(
                lambda m: m.topic.endswith("/cam-a/status") and bool(m.payload)
                and "died (exit code -9)" in (m.json()["error"] or ""),
                30,
            )[0].json()  # fmt: skip
            assert down["worker"] == 0, down
            # the other worker's messages keep arriving: cam-b's frame count grows, again and again
            b_frames = [s["frames"] for t, s in _frames(recorder, "cam-b") if t <= t_kill]
            wait_until(
                lambda: len({s["frames"] for t, s in _frames(recorder, "cam-b") if t > t_kill and s["frames"] > max(b_frames)}) >= 5,
                60, "cam-b's worker to keep reporting",
            )  # fmt: skip
            # the supervisor is not stuck: it publishes health, restarts worker 0, and cam-a comes back
            health = recorder.wait_for(
                lambda m: m.topic == f"{PREFIX}/health" and m.json()["workers"]["restarts"] >= 1
                and m.json()["workers"]["alive"] == 2 and m.json()["cameras"] == {"online": 2, "total": 2},
                90,
            )[0].json()  # fmt: skip
            t_back = time.monotonic()
            assert daemon.proc.poll() is None
        finally:
            if daemon.proc.poll() is None:
                os.kill(daemon.proc.pid, signal.SIGCONT)
            code = daemon.stop()
            recorder.close()
            for proc in procs:
                proc.kill()
        assert code == 0, daemon.output()
        log = daemon.output()
        assert "Traceback" not in log, log
        assert "worker 0 died (exit code -9)" in log, log
        torn = [line for line in log.splitlines() if "was cut off" in line]
        b_after = [s["frames"] for t, s in _frames(recorder, "cam-b") if t > t_kill]
        report(
            "worker SIGKILL mid-message", cam_b_frames_at_kill=max(b_frames), cam_b_frames_after=max(b_after),
            health_workers=health["workers"], back_online_s=round(t_back - t_kill, 1),
            torn_message=torn[0].split(": ", 2)[-1] if torn else "none (killed between messages)",
        )  # fmt: skip
