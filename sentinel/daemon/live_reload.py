"""Live reload of the camera registry: notice edits (file mtime, or SIGHUP), validate the new registry in
full, work out which cameras were added, changed or removed, and apply that through the camera scheduler.
An invalid edit changes nothing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sentinel.cluster.node import ClusterNode
from sentinel.config.models import CameraConfig, SentinelConfig
from sentinel.daemon.camera_scheduler import CameraRegistry, CameraScheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraDiff:
    added: list[CameraConfig]
    changed: list[CameraConfig]  # the new version; the camera restarts, nothing else does
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def diff_cameras(old: list[CameraConfig], new: list[CameraConfig]) -> CameraDiff:
    before = {c.id: c for c in old if c.enabled}
    after = {c.id: c for c in new if c.enabled}
    return CameraDiff(
        added=[c for cid, c in after.items() if cid not in before],
        changed=[c for cid, c in after.items() if cid in before and before[cid] != c],
        removed=[cid for cid in before if cid not in after],
    )


def settings_needing_restart(old: SentinelConfig, new: SentinelConfig) -> list[str]:
    """Top-level sections that changed: those are not applied live (they need `sentinel run` restarted)."""
    fields = [f for f in SentinelConfig.model_fields if f not in ("cameras", "cameras_file")]
    return [f for f in fields if getattr(old, f) != getattr(new, f)]


class ConfigWatcher:
    """Polls the mtimes of the config file and its camera registry (cheap, and works on every filesystem).
    An edit counts once the files have stayed the same for `settle` seconds: an editor or a script that
    truncates and then writes must not have its half-written file loaded (a camera cut off mid-entry would
    restart with defaults, and again when the rest arrives)."""

    def __init__(
        self,
        paths: list[Path],
        load: Callable[[], SentinelConfig],
        settle: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.paths = paths
        self.load = load
        self.settle = settle
        self._clock = clock
        self._stamps = self._read()  # as last applied
        # the stamps seen changed and not yet applied, and since when
        self._pending: tuple[tuple[int | None, ...], float] | None = None

    def _read(self) -> tuple[int | None, ...]:
        stamps: list[int | None] = []
        for p in self.paths:
            try:
                st = p.stat()
                stamps.append(hash((st.st_mtime_ns, st.st_size, st.st_ino)))
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def changed(self) -> bool:
        stamps, now = self._read(), self._clock()
        if stamps == self._stamps:
            self._pending = None
            return False
        if self._pending is None or self._pending[0] != stamps:
            self._pending = (stamps, now)  # still being written, perhaps: wait for it to settle
            return False
        if now - self._pending[1] < self.settle:
            return False
        self._stamps, self._pending = stamps, None
        return True


class LiveReload:
    """Applies an edited camera registry: added cameras start, changed ones restart, removed ones stop; the
    others are not touched. An invalid edit is refused and the running set stays as it was. On a node of
    several, added cameras are claimed like any free one and only what this node runs is restarted."""

    def __init__(
        self,
        watcher: ConfigWatcher,
        config: SentinelConfig,
        registry: CameraRegistry,
        scheduler: CameraScheduler,
        relocate: Callable[[list[CameraConfig]], None],
        cluster: ClusterNode | None,
    ) -> None:
        """`relocate(cameras)`: geolocate with the new registry's homographies and positions."""
        self.requested = threading.Event()  # set by SIGHUP
        self._watcher = watcher
        self._config = config  # as started: sections other than the cameras need a restart to change
        self._registry = registry
        self._scheduler = scheduler
        self._relocate = relocate
        self._cluster = cluster

    def poll(self) -> None:
        if self.requested.is_set() or self._watcher.changed():
            self.requested.clear()
            self.apply()

    def apply(self) -> None:
        try:
            new = self._watcher.load()
        except Exception as exc:  # ConfigError lists FILE:LINE problems; anything else is reported too
            log.error("config reload refused, keeping the running cameras:\n%s", exc)
            return
        for section in settings_needing_restart(self._config, new):
            log.warning("config reload: changes to '%s' need a restart of sentinel run; not applied", section)
        diff = diff_cameras(self._registry.all(), new.cameras)
        self._registry.replace(new.cameras)
        if not diff:
            return
        self._relocate(new.cameras)
        log.info(
            "config reload: %d added, %d changed, %d removed",
            len(diff.added), len(diff.changed), len(diff.removed),
        )  # fmt: skip
        for camera_id in diff.removed:
            self._scheduler.stop(camera_id)
            if self._cluster is not None:
                self._cluster.released(camera_id)
        for camera in diff.changed:
            self._scheduler.restart(camera)  # (on a node of several: if it runs here)
        if self._cluster is not None:
            self._cluster.registry_changed()
        else:
            for camera in diff.added:
                self._scheduler.start(camera)
