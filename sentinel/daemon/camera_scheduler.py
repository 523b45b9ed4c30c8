"""Which cameras run on this node, on which analysis worker: the one place that starts, stops and restarts a
camera. Live reload (added / changed / removed cameras) and the cluster (claimed / released leases) both go
through it, and it alone adds views to the camera board or takes them off."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from sentinel.config.models import CameraConfig
from sentinel.daemon.camera_board import CameraBoard
from sentinel.daemon.messages import AddCamera, RemoveCamera
from sentinel.daemon.workers import WorkerPool
from sentinel.ingest.reader import CameraState

log = logging.getLogger(__name__)


class CameraRegistry:
    """The camera registry as last loaded (cameras.yaml), whether or not each camera runs on this node; live
    reload replaces it whole. Read from the console's thread too: one tuple, swapped in one step."""

    def __init__(self, cameras: Iterable[CameraConfig]) -> None:
        self._cameras = tuple(cameras)

    def all(self) -> list[CameraConfig]:
        return list(self._cameras)

    def enabled_ids(self) -> list[str]:
        return [c.id for c in self._cameras if c.enabled]

    def replace(self, cameras: Iterable[CameraConfig]) -> None:
        self._cameras = tuple(cameras)


class CameraScheduler:
    def __init__(self, board: CameraBoard, pool: WorkerPool, forget: Callable[[str], None]) -> None:
        """`forget(camera_id)`: drop what is kept per camera elsewhere (its metrics) once it stops here."""
        self._board = board
        self._pool = pool
        self._forget = forget

    def start_all(self, cameras: Iterable[CameraConfig]) -> None:
        """The cameras of a single node at start, shared over new worker processes."""
        self._pool.start([c for c in cameras if c.enabled])
        for handle in self._pool.handles:
            for camera in handle.spec.cameras:
                self._board.add(camera, handle.spec.index)

    def start(self, camera: CameraConfig) -> int:
        """Run the camera on the least loaded worker (a new one while under the limit); the worker's index.
        A camera that runs already keeps its worker."""
        view = self._board.views.get(camera.id)
        if view is not None:
            return view.worker
        worker = self._pool.least_loaded()
        self._board.add(camera, worker)
        self._pool.send(worker, AddCamera(camera), drop=None)
        return worker

    def stop(self, camera_id: str, reason: str | None = None) -> bool:
        """Stop the camera here; False if it does not run here. With a `reason` (it moves to another node)
        its retained status says `stopped` and why, until the next owner says online; without one (it left
        the registry) its retained status is cleared. Its events from now on are dropped, never stored."""
        view = self._board.views.get(camera_id)
        if view is None:
            return False
        if reason is not None:
            view.note = reason
            self._board.publish(view, override_state=CameraState.stopped)
        self._board.remove(camera_id, keep_status=reason is not None)
        self._forget(camera_id)
        self._pool.send(view.worker, RemoveCamera(camera_id), drop=camera_id)
        return True

    def restart(self, camera: CameraConfig) -> bool:
        """Run the camera's new settings on the same worker; False if it does not run here."""
        view = self._board.views.get(camera.id)
        if view is None:
            return False
        self._board.replace(camera)
        self._pool.send(view.worker, AddCamera(camera), drop=camera.id)
        return True

    def runs(self, camera_id: str) -> bool:
        return camera_id in self._board.views

    def running(self, camera_id: str) -> CameraConfig | None:
        """The settings the camera runs with here, None if it does not run here."""
        view = self._board.views.get(camera_id)
        return view.camera if view is not None else None

    def running_ids(self) -> list[str]:
        return list(self._board.views)

    def statuses(self) -> list[dict[str, object]]:
        return self._board.statuses()
