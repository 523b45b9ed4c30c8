"""The camera scheduler (sentinel.daemon.camera_scheduler) over a real analysis worker process, the real
model and real footage: start, restart and stop show on the camera board and in the worker (its cameras'
statuses come and go), and a camera handed to another node says `stopped` and why."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sentinel.config.models import CameraConfig, DetectorConfig
from sentinel.daemon.camera_board import CameraBoard
from sentinel.daemon.camera_scheduler import CameraScheduler
from sentinel.daemon.channels import receive
from sentinel.daemon.messages import CameraStatusMsg
from sentinel.daemon.workers import WorkerPool
from sentinel.ingest.reader import CameraState
from tests.support.footage import vtest_path

pytestmark = pytest.mark.slow


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.pool = WorkerPool(mp.get_context("spawn"), DetectorConfig(), tmp_path / "cameras", 20, limit=1)
        self.published: list[dict[str, object]] = []
        self.board = CameraBoard(ZoneInfo("Asia/Shanghai"), 1.0, listeners=[self.published.append])
        self.forgotten: list[str] = []
        self.scheduler = CameraScheduler(self.board, self.pool, forget=self.forgotten.append)
        self.heard: list[CameraStatusMsg] = []  # every camera status the worker sent

    def pump(self, until: Callable[[], bool], timeout: float = 60.0) -> None:
        """Route the worker's statuses to the board (as the supervisor does) until `until()` holds."""
        deadline = time.monotonic() + timeout
        while not until():
            heard = [(m.status.camera_id, m.status.state.value) for m in self.heard]
            assert time.monotonic() < deadline, f"timed out; heard {heard}"
            for msg in receive(self.pool.channels(), 0.2):
                if isinstance(msg, CameraStatusMsg):
                    self.heard.append(msg)
                    self.board.on_status(msg.status)

    def online(self, camera_id: str, name: str | None = None) -> bool:
        view = self.board.views.get(camera_id)
        return (
            view is not None
            and view.status is not None
            and view.status.state is CameraState.online
            and (name is None or view.camera.name == name)
        )

    def saw(self, camera_id: str, state: CameraState, after: int = 0) -> bool:
        return any(m.status.camera_id == camera_id and m.status.state is state for m in self.heard[after:])

    def worker_cameras(self) -> list[str]:
        return sorted(c.id for c in self.pool.handles[0].spec.cameras)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    try:
        yield r
    finally:
        r.pool.stop()


def camera(camera_id: str, name: str | None = None) -> CameraConfig:
    fields: dict[str, object] = {
        "id": camera_id,
        "source": str(vtest_path()),
        "decode": "all",
        "analyze_fps": 2,
    }
    return CameraConfig.model_validate(fields | ({"name": name} if name else {}))


def test_start_restart_stop_through_the_scheduler(rig: Rig) -> None:
    assert rig.scheduler.start(camera("a")) == 0  # the first camera gets a new worker
    assert rig.scheduler.start(camera("b")) == 0  # limit 1: the same worker
    assert rig.scheduler.start(camera("a")) == 0  # running already: nothing changes
    assert rig.worker_cameras() == ["a", "b"]
    rig.pump(lambda: rig.online("a") and rig.online("b"))

    # restart: the new settings run on the same worker, and the board starts over for the camera
    before = len(rig.heard)
    assert rig.scheduler.restart(camera("a", name="Gate A"))
    assert rig.board.views["a"].status is None and rig.board.views["a"].camera.name == "Gate A"
    assert rig.worker_cameras() == ["a", "b"]
    rig.pump(lambda: rig.saw("a", CameraState.stopped, after=before))  # the worker closed the old reader
    stopped_at = len(rig.heard)
    rig.pump(lambda: rig.saw("a", CameraState.online, after=stopped_at))  # and opened the new one
    assert rig.online("a", name="Gate A")
    assert [p["name"] for p in rig.published if p["camera_id"] == "a"][-1] == "Gate A"

    # stop (left the registry): off the board, out of the worker, its metrics forgotten
    assert rig.scheduler.stop("b")
    assert not rig.scheduler.runs("b") and rig.scheduler.running("b") is None
    assert rig.worker_cameras() == ["a"] and rig.forgotten == ["b"]
    rig.pump(lambda: rig.saw("b", CameraState.stopped))
    first_stop = next(
        i for i, m in enumerate(rig.heard) if m.status.camera_id == "b" and m.status.state.value == "stopped"
    )
    settle = time.monotonic() + 3.0
    rig.pump(
        lambda: time.monotonic() > settle
    )  # "a" keeps reporting, "b" stays stopped: the worker dropped it
    assert {m.status.state for m in rig.heard[first_stop:] if m.status.camera_id == "b"} == {
        CameraState.stopped
    }
    assert any(m.status.camera_id == "a" for m in rig.heard[first_stop:])
    assert "b" not in rig.board.views and rig.online("a")
    assert not rig.scheduler.stop("b") and not rig.scheduler.restart(camera("b"))

    # handed to another node: the last status says stopped, with the reason, then the camera is gone here
    rig.published.clear()
    assert rig.scheduler.stop("a", reason="stopped on node n1: handed to another node")
    assert rig.published[-1]["state"] == "stopped"
    assert rig.published[-1]["error"] == "stopped on node n1: handed to another node"
    assert rig.scheduler.running_ids() == [] and rig.worker_cameras() == []

    # and back: the same worker process takes it again
    assert rig.scheduler.start(camera("a")) == 0
    rig.pump(lambda: rig.online("a"))
    assert rig.pool.summary().total == 1 and rig.pool.summary().restarts == 0
