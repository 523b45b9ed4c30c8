"""Live reload of the camera registry: notice edits (file mtime, or SIGHUP), validate the new registry in
full, and work out which cameras were added, changed or removed. An invalid edit changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sentinel.config.models import CameraConfig, SentinelConfig

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
    """Polls the mtimes of the config file and its camera registry (cheap, and works on every filesystem)."""

    def __init__(self, paths: list[Path], load: Callable[[], SentinelConfig]) -> None:
        self.paths = paths
        self.load = load
        self._stamps = self._read()

    def _read(self) -> tuple[float | None, ...]:
        stamps: list[float | None] = []
        for p in self.paths:
            try:
                st = p.stat()
                stamps.append(st.st_mtime_ns + st.st_size)
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def changed(self) -> bool:
        stamps = self._read()
        if stamps != self._stamps:
            self._stamps = stamps
            return True
        return False
