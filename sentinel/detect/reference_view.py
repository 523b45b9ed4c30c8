"""`ReferenceView`: the operator-approved view of a camera (`reference_view.png` in its state folder), that
scene-change and camera-health rules compare against. Built once from the first stable frames, reloaded
after a restart, replaced only after an explicit `accept_new_view()`, never silently.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import cv2
import numpy as np

from sentinel.detect.image_structure import Image, downscale, grey, median_ratio, phase_shift
from sentinel.storage.private import create_private_file, private_dir, write_private

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- reference view

REFERENCE_FILE = "reference_view.png"
# accept_new_view() was asked: build a new reference (a marker file, so a restart does not forget it)
PENDING_FILE = "reference_view.accept"


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class ReferenceView:
    """A camera's approved view: `reference_view.png` in its state folder, shared by its scene_change and
    camera_health rules (each holds one of these; a replacement written by one is picked up by the others).

    Built once from the first stable frames: the per-pixel median of `samples` frames at least `spacing`
    seconds apart (passers-by vanish), accepted only if the view is textured (not covered), did not move, and
    no sample differs from the median over much of the frame. Reloaded after a restart. Replaced only after
    `accept_new_view()` (an operator action), which builds a new one the same way; until it is ready `update`
    returns None (the rules wait). Without a state folder the reference lives in memory only.
    """

    def __init__(
        self, state_dir: Path | None, *, width: int = 640, samples: int = 7, spacing: float = 2.0
    ) -> None:
        self.path = state_dir / REFERENCE_FILE if state_dir is not None else None
        self.width = width
        self.samples = samples
        self.spacing = spacing
        self.image: Image | None = None  # BGR uint8, `width` wide
        self.version = 0  # bumped whenever the reference changes: rules drop state tied to the old one
        self._stamp: tuple[int, int] | None = None
        self._pending = False
        self._buffer: list[Image] = []
        self._last_sample = -math.inf
        if self.path is not None:
            self._load()
            self._pending = self.path.with_name(
                PENDING_FILE
            ).exists()  # an accept the last run did not finish

    @property
    def pending(self) -> bool:
        """A new reference is being built (first run, or after accept_new_view)."""
        return self.image is None or self._pending

    def accept_new_view(self) -> None:
        """The operator approves the view as it is now: build a new reference from the next stable frames."""
        self._pending = True
        self._buffer.clear()
        self._last_sample = -math.inf
        if self.path is not None:
            private_dir(self.path.parent)
            marker = self.path.with_name(PENDING_FILE)
            if not create_private_file(marker):
                marker.touch()  # newer than the reference now
        log.info("reference view %s: new view accepted, re-learning it", self.path or "(memory)")

    def update(self, image: Image, ts: float) -> Image | None:
        """Offer an analysed frame; the reference to compare with, or None while one is being built."""
        if self.path is not None:
            stamp = _stamp(self.path)
            if stamp is not None and stamp != self._stamp and not self._marker_newer(stamp):
                self._load()  # written by a sibling rule (or by hand): take it
            if not self._pending and self.path.with_name(PENDING_FILE).exists():
                self._pending = True  # a sibling rule was told to accept a new view
                self._buffer.clear()
        if self.pending:
            self._collect(image, ts)
        return None if self.pending else self.image

    def _marker_newer(self, stamp: tuple[int, int]) -> bool:
        assert self.path is not None
        marker = _stamp(self.path.with_name(PENDING_FILE))
        return marker is not None and marker[0] > stamp[0]

    def _load(self) -> None:
        assert self.path is not None
        stamp = _stamp(self.path)
        if stamp is None:
            return
        image = cv2.imdecode(np.fromfile(self.path, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            log.error("reference view %s is unreadable: learning a new one", self.path)
            return
        self.image, self._stamp, self._pending = image, stamp, False
        self._buffer.clear()
        self.version += 1

    def _collect(self, image: Image, ts: float) -> None:
        if ts - self._last_sample < self.spacing:
            return
        self._last_sample = ts
        self._buffer.append(downscale(image, self.width))
        if len(self._buffer) < self.samples:
            return
        median = np.median(np.stack(self._buffer), axis=0).astype(np.uint8)
        if self._stable(median):
            self._commit(median)
        else:
            self._buffer.pop(0)

    def _stable(self, median: Image) -> bool:
        m = grey(median)
        if float(m.std()) < 8.0:  # a uniform view: the camera is covered, nothing to learn
            return False
        first, last = grey(self._buffer[0]), grey(self._buffer[-1])
        dx, dy, _ = phase_shift(first, last)
        if math.hypot(dx, dy) > 1.0:
            return False
        for sample in self._buffer:
            s = grey(sample)
            off = np.abs(s * median_ratio(m, s) - m) > 30.0
            if float(off.mean()) > 0.25:
                return False
        return True

    def _commit(self, median: Image) -> None:
        self._buffer.clear()
        if self.path is not None:
            ok, png = cv2.imencode(".png", median)
            if ok:
                private_dir(self.path.parent)
                tmp = self.path.with_name(self.path.name + ".tmp")
                write_private(tmp, png.tobytes())
                os.replace(tmp, self.path)
                self.path.with_name(PENDING_FILE).unlink(missing_ok=True)
                self._stamp = _stamp(self.path)
                log.info("reference view %s saved", self.path)
        self.image, self._pending = median, False
        self.version += 1
