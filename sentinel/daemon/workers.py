"""The analysis worker processes: spawn, watch (exit, missing heartbeats), restart with backoff and jitter,
and tell them about cameras added or removed while they run. Each worker reports on a results channel of its
own (`sentinel.daemon.channels`), made with the process and drained and closed when it dies."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any

from sentinel.config.models import CameraConfig, DetectorConfig, NamedDetectorConfig
from sentinel.daemon.channels import ResultChannel, open_channel
from sentinel.daemon.cpus import usable_cpus
from sentinel.daemon.messages import AddCamera, RemoveCamera, WorkerMessage
from sentinel.daemon.worker import WorkerSpec, worker_main
from sentinel.ingest.backoff import Backoff

log = logging.getLogger(__name__)

HEARTBEAT_TIMEOUT = 30.0  # a worker silent this long is stuck: kill and restart it


@dataclass
class WorkerHandle:
    spec: WorkerSpec
    process: BaseProcess | None = None
    stop: Any = None
    commands: Any = None  # supervisor → worker queue (live reload)
    results: ResultChannel | None = None  # worker → supervisor: this process's own pipe, new with each spawn
    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 60.0))
    restart_at: float | None = None
    last_beat: float = 0.0
    restarts: int = 0
    failed: str | None = None  # a fatal error: do not restart


def plan_workers(cameras: list[CameraConfig], requested: int) -> list[list[CameraConfig]]:
    """Share cameras round-robin over K workers (K = requested, or the CPUs this process may use: affinity and
    cgroup quota; never more than cameras)."""
    enabled = [c for c in cameras if c.enabled]
    k = max(1, min(requested or usable_cpus(), len(enabled)))
    shares: list[list[CameraConfig]] = [[] for _ in range(k)]
    for i, cam in enumerate(enabled):
        shares[i % k].append(cam)
    return [s for s in shares if s]


@dataclass(frozen=True)
class PoolSummary:
    """The workers at a glance, for the daemon's health message."""

    alive: int
    total: int
    restarts: int
    failed: int


class WorkerPool:
    def __init__(
        self,
        ctx: SpawnContext,
        detector: DetectorConfig,
        state_dir: Any,
        log_level: int,
        limit: int,
        detectors: Mapping[str, NamedDetectorConfig] | None = None,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        """`detector`: the default detector and the analysis settings; `detectors`: the named others, loaded
        by a worker only when one of its cameras' rules reads them."""
        self.ctx = ctx
        self.detector = detector
        self.detectors = dict(detectors or {})
        self.state_dir = state_dir
        self.log_level = log_level
        self.timezone = timezone
        self.limit = limit or usable_cpus()
        self.handles: list[WorkerHandle] = []

    def start(self, cameras: list[CameraConfig]) -> None:
        for share in plan_workers(cameras, self.limit):
            self._new(share)

    def _new(self, cameras: list[CameraConfig]) -> WorkerHandle:
        spec = WorkerSpec(
            len(self.handles), cameras, self.detector, self.state_dir, self.log_level, self.detectors,
            self.timezone,
        )  # fmt: skip
        handle = WorkerHandle(spec)
        self.handles.append(handle)
        self._spawn(handle)
        return handle

    def __getitem__(self, index: int) -> WorkerHandle:
        return self.handles[index]

    def _spawn(self, handle: WorkerHandle) -> None:
        if handle.results is not None:
            handle.results.close()  # drained when the last process died (supervise)
        handle.stop = self.ctx.Event()
        handle.commands = self.ctx.Queue()
        # a pipe of its own, whose write end only the worker holds once it has started
        with open_channel(self.ctx, handle.spec.index) as (channel, writer):
            handle.process = self.ctx.Process(
                target=worker_main,
                args=(handle.spec, writer, handle.stop, handle.commands),
                name=f"sentinel-worker-{handle.spec.index}",
                daemon=True,
            )
            handle.process.start()
        handle.results = channel
        handle.last_beat = time.monotonic()
        handle.restart_at = None

    def channels(self) -> list[ResultChannel]:
        """The open results channels, one per worker (a dead worker's stays open until it is drained)."""
        return [h.results for h in self.handles if h.results is not None and not h.results.closed]

    def beat(self, index: int, worker_ts: float | None = None) -> None:
        handle = self.handles[index]
        handle.last_beat = time.monotonic()
        if worker_ts is not None and handle.backoff.attempt and time.time() - worker_ts < 5:
            handle.backoff.reset()

    def supervise(
        self, on_down: Callable[[int, str], None], on_message: Callable[[WorkerMessage], None]
    ) -> None:
        """Restart workers that died or got stuck; `on_down(index, reason)` lets the caller mark cameras.
        A dead worker's channel is drained first: its last complete messages go to `on_message`, before
        `on_down`, and the channel is closed (the restarted worker gets a new one)."""
        now = time.monotonic()
        for handle in self.handles:
            proc = handle.process
            if handle.failed or proc is None:
                continue
            if handle.restart_at is not None:
                if now >= handle.restart_at:
                    log.info("restarting worker %d (restart %d)", handle.spec.index, handle.restarts)
                    self._spawn(handle)
                continue
            stuck = now - handle.last_beat > HEARTBEAT_TIMEOUT
            if proc.is_alive() and not stuck:
                continue
            if stuck and proc.is_alive():
                log.error(
                    "worker %d sent no heartbeat for %.0f s: killing it", handle.spec.index, HEARTBEAT_TIMEOUT
                )
                proc.kill()
                proc.join(timeout=5)
            if handle.results is not None:
                for msg in handle.results.drain():
                    on_message(msg)
                if handle.failed:  # its last words were a fatal error (WorkerFailed): reported, not restarted
                    continue
            state = "was stuck" if stuck else f"died (exit code {proc.exitcode})"
            reason = f"analysis worker {handle.spec.index} {state}"
            delay = handle.backoff.next_delay()
            handle.restarts += 1
            handle.restart_at = now + delay
            log.error("%s; restarting in %.1f s", reason, delay)
            on_down(handle.spec.index, f"{reason}; restarting")

    def send(self, index: int, cmd: AddCamera | RemoveCamera, drop: str | None) -> None:
        """Tell a worker, and keep its spec current so a restarted worker comes back with the same set."""
        handle = self.handles[index]
        cameras = [c for c in handle.spec.cameras if c.id != drop]
        if isinstance(cmd, AddCamera):
            cameras.append(cmd.camera)
        handle.spec = replace(handle.spec, cameras=cameras)
        if handle.commands is not None and handle.process is not None and handle.process.is_alive():
            handle.commands.put(cmd)

    def summary(self) -> PoolSummary:
        return PoolSummary(
            alive=sum(1 for h in self.handles if h.process is not None and h.process.is_alive()),
            total=len(self.handles),
            restarts=sum(h.restarts for h in self.handles),
            failed=sum(1 for h in self.handles if h.failed),
        )

    def least_loaded(self) -> int:
        """A worker for a new camera: a new process while under the limit and all have cameras."""
        if not self.handles or (len(self.handles) < self.limit and all(h.spec.cameras for h in self.handles)):
            return self._new([]).spec.index
        return min(self.handles, key=lambda h: len(h.spec.cameras)).spec.index

    def stop(self, timeout: float = 10.0) -> None:
        for handle in self.handles:
            if handle.stop is not None:
                handle.stop.set()
        deadline = time.monotonic() + timeout
        for handle in self.handles:
            if handle.process is not None:
                handle.process.join(timeout=max(0.1, deadline - time.monotonic()))
                if handle.process.is_alive():
                    handle.process.kill()
                    handle.process.join(timeout=2)
