"""What the demo cameras see, composited from real imagery that Debian's opencv-doc ships: the pedestrians of
`vtest.avi` (a fixed, elevated camera over a plaza, 768x576, 10 fps) and the food waste of `fruits.jpg`.

Every event comes and goes inside the footage itself, so the rules see it start and end as they would live:
- a crowd: the people of two other moments of vtest pasted in (cut out against the footage's empty plate);
- dumping: a heap of fruit waste put down on the lawn, later cleared away;
- a vendor: one passer-by stays where they were (their cut-out frozen in place), later walks off;
- a camera fault: the lens covered by a hand or cloth (dim, shapeless light), later uncovered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
VTEST = OPENCV_DATA / "vtest.avi"
FRUITS = OPENCV_DATA / "fruits.jpg"

Frame = np.ndarray  # BGR uint8, 576 x 768
Scene = Callable[[float], Frame]  # media time in seconds -> frame


class FootageError(Exception):
    """The imagery the demo is built from is missing or unreadable; the message says what to install."""


@dataclass(frozen=True)
class Footage:
    """vtest.avi decoded once, with its empty plate (the per-pixel median: people walk, the median stays)."""

    frames: Sequence[Frame]
    fps: float
    plate: Frame

    @classmethod
    def load(cls, path: Path = VTEST) -> Footage:
        if not path.is_file():
            raise FootageError(f"demo footage not found: {path} (install Debian's opencv-doc)")
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                fps = float(stream.average_rate or 10)
                frames = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
        except (av.error.FFmpegError, IndexError) as exc:
            raise FootageError(f"cannot read {path}: {exc}") from None
        if len(frames) < 50:
            raise FootageError(f"{path} holds only {len(frames)} frames")
        sample = np.stack(frames[:: max(1, len(frames) // 40)]).astype(np.float32)
        plate = np.median(sample, axis=0).astype(np.uint8)
        return cls(frames, fps, plate)

    def at(self, t: float, offset: float = 0.0) -> Frame:
        """The frame at media time `t` (looped), starting `offset` seconds into the footage."""
        return self.frames[int(round((t + offset) * self.fps)) % len(self.frames)]

    def people(self, frame: Frame, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Soft mask (float32 0..1) of what differs from the empty plate: the people in `frame`."""
        diff = cv2.absdiff(frame, self.plate).max(axis=2)
        mask = (diff > 32).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
        if box is not None:
            x1, y1, x2, y2 = box
            keep = np.zeros(mask.shape, np.uint8)
            keep[y1:y2, x1:x2] = 1
            mask = mask * keep
        return cv2.GaussianBlur(mask.astype(np.float32), (5, 5), 0)


def blend(base: Frame, top: Frame, alpha: np.ndarray) -> Frame:
    """`top` over `base` where `alpha` (0..1) says, only inside alpha's bounding box (most of it is 0)."""
    ys, xs = np.nonzero(alpha > 0.004)
    if not len(ys):
        return base
    y1, y2, x1, x2 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    a = alpha[y1:y2, x1:x2, None]
    out = base.copy()
    roi = base[y1:y2, x1:x2].astype(np.float32)
    out[y1:y2, x1:x2] = np.clip(roi + (top[y1:y2, x1:x2] - roi) * a, 0, 255).astype(np.uint8)
    return out


def crowd(footage: Footage, offset: float, start: float, end: float, extra: Sequence[float]) -> Scene:
    """vtest from `offset`; between `start` and `end` the people of the moments `offset + e` (e in `extra`)
    stand in the plaza too: a crowd gathers, then disperses."""

    def frame(t: float) -> Frame:
        f = footage.at(t, offset)
        if not start <= t < end:
            return f
        for e in extra:
            other = footage.at(t, offset + e)
            f = blend(f, other, footage.people(other))
        return f

    return frame


def vendor(
    footage: Footage, offset: float, start: float, end: float, source: float, box: tuple[int, int, int, int]
) -> Scene:
    """vtest from `offset`; between `start` and `end` the person inside `box` (pixels) of the moment `source`
    stays right there, as a street vendor would: their cut-out is pasted over every frame."""
    still = footage.at(0.0, source)
    mask = footage.people(still, box)

    def frame(t: float) -> Frame:
        f = footage.at(t, offset)
        return blend(f, still, mask) if start <= t < end else f

    return frame


def fruit_heap(w: int, h: int, seed: int = 7) -> tuple[Frame, np.ndarray]:
    """Food waste cut from opencv-doc's fruits.jpg, with an irregular soft outline (overlapping ellipses)."""
    photo = cv2.imread(str(FRUITS))
    if photo is None:
        raise FootageError(f"demo imagery not found: {FRUITS} (install Debian's opencv-doc)")
    patch = cv2.resize(photo[60:420, 80:500], (w, h), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(seed)
    outline = np.zeros((h, w), np.uint8)
    for _ in range(12):
        centre = (int(rng.uniform(0.25, 0.75) * w), int(rng.uniform(0.45, 0.8) * h))
        axes = (int(rng.uniform(0.15, 0.3) * w), int(rng.uniform(0.2, 0.35) * h))
        cv2.ellipse(outline, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return patch, cv2.GaussianBlur(outline.astype(np.float32), (5, 5), 0)


def dumped(base: Scene, start: float, end: float, at: tuple[int, int], size: tuple[int, int]) -> Scene:
    """`base` with a fruit heap of `size` px lying with its bottom centre at `at` px from `start` to `end`."""
    patch, alpha = fruit_heap(*size)
    (cx, bottom), (w, h) = at, size
    x, y = cx - w // 2, bottom - h

    def frame(t: float) -> Frame:
        f = base(t)
        if not start <= t < end:
            return f
        out = f.copy()
        out[y : y + h, x : x + w] = blend(f[y : y + h, x : x + w], patch, alpha)
        return out

    return frame


def covered(base: Scene, start: float, end: float) -> Scene:
    """`base` with the lens covered from `start` to `end`: only dim, shapeless light gets through."""
    rng = np.random.default_rng(3)
    grain = [rng.normal(0, 2.0, (576, 768, 3)).astype(np.float32) for _ in range(5)]  # sensor noise

    def frame(t: float) -> Frame:
        f = base(t)
        if not start <= t < end:
            return f
        small = cv2.resize(f, (f.shape[1] // 16, f.shape[0] // 16), interpolation=cv2.INTER_AREA)
        light = cv2.resize(cv2.GaussianBlur(small, (0, 0), 3), (f.shape[1], f.shape[0]))
        dim = light.astype(np.float32) * 0.3 + grain[int(t * 10) % len(grain)][: f.shape[0], : f.shape[1]]
        return np.clip(dim + 20, 0, 255).astype(np.uint8)

    return frame
