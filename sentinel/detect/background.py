"""`BackgroundModel`: a slow dual background (Porikli's long-term / short-term pair) on a downscaled colour
frame. *Static foreground* is what differs from the long-term background but agrees with the short-term one
(and with the frame): something new that stays (dumped rubbish, piled materials), not people passing.

Analysis runs at 0.2-5 fps, so every time constant is in seconds and each update derives its learning rate
from the frame timestamps: alpha = 1 - exp(-dt / tau). The reference view the scene rules compare against
is `sentinel.detect.reference_view`; the shared image helpers are `sentinel.detect.image_structure`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from sentinel.detect.image_structure import Image, boxes_mask, downscale, grey, learning_rate, median_ratio

# ---------------------------------------------------------------- static foreground


@dataclass(frozen=True)
class StaticBlobs:
    """Connected regions of static foreground in one analysed frame (working resolution)."""

    labels: Image  # int32 [H, W]: 0 background, i = blob i - 1
    boxes: np.ndarray  # float32 [N, 4] normalised xyxy
    areas: np.ndarray  # int [N] pixels
    added: np.ndarray  # bool [N]: new structure appeared (an object put down), not an old one removed
    contrast: np.ndarray  # float32 [N]: mean colour difference to the long-term background / threshold
    appeared: np.ndarray  # float64 [N]: when the blob first differed from the long-term background (epoch s)

    def __len__(self) -> int:
        return len(self.boxes)


class BackgroundModel:
    """Long-term and short-term backgrounds on a downscaled colour frame, with static-foreground extraction.

    - Both backgrounds are seeded with the per-pixel median of the frames of the first `warmup` seconds,
      so people walking through at start-up leave no ghost.
    - Each frame is gain-normalised to the long-term background first (median ratio over the frame, per
      channel), so a global brightness step, a slow dusk or a white-balance shift does not look like foreground.
    - The long-term background learns with time constant `learn_time`, `absorb` times slower on static
      foreground (a dumped object takes hours, not minutes, to become background) and not at all under
      `hold` boxes (objects already reported, so camera verification still sees them until they are gone).
      A blob where structure has *disappeared* rather than appeared (a parked car that left, a person who was
      there at start-up) is a ghost: the long-term background heals it at the short-term rate.
    - Static = |short - long| > thr and |frame - short| < thr, thr = max(`min_contrast`, 3 x noise), noise
      from the median frame-to-short-term difference.
    - A lighting *step* (the IR illuminator switching, auto-exposure jumping, a lamp going on: the frame's
      per-channel gain against the previous frame moves by more than RELIGHT_STEP at once) changes colours
      unevenly, which no global gain undoes; for 3 x `settle_time` after one, the long-term background
      learns at the short-term rate, so the new lighting becomes the background instead of a static blob --
      except where a static blob of new structure lay just before the step: an object put down earlier stays
      foreground. Something put down in the relight itself is learnt: a rare miss, against a false alert at
      every switch.
    - A blob is static only once the short-term background has taken it in (about `settle_time` x
      ln(contrast / thr) after it appeared). So that rules can count from the moment it appeared, each pixel
      keeps when the frame began to differ from the long-term background (reset when it matches again); a
      blob `appeared` at the median of that over its pixels (people passing in front still differ: no reset).
    """

    def __init__(
        self,
        *,
        learn_time: float = 1800.0,
        settle_time: float = 30.0,
        min_contrast: float = 20.0,
        warmup: float | None = None,
        width: int = 320,
        absorb: float = 8.0,
    ) -> None:
        self.learn_time = learn_time
        self.settle_time = settle_time
        self.min_contrast = min_contrast
        self.warmup = warmup if warmup is not None else min(max(2.0 * settle_time, 10.0), 120.0)
        self.width = width
        self.absorb = absorb
        self.long: Image | None = None  # float32 [H, W, 3]
        self.short: Image | None = None
        self.threshold = min_contrast
        self.differs_since: np.ndarray | None = (
            None  # float64 [H, W]: first frame differing from the long-term bg
        )
        self._samples: list[Image] = []
        self._first_ts: float | None = None
        self._last_sample_ts = -math.inf
        self._last_ts: float | None = None
        self._prev: Image | None = None  # the previous frame, for lighting steps
        self._relight_until = -math.inf
        self._relight_keep: np.ndarray | None = (
            None  # bool [H, W]: learnt at the usual rates during a relight
        )
        self._last_blobs: StaticBlobs | None = None

    def update(self, image: Image, ts: float, hold: np.ndarray | None = None) -> StaticBlobs | None:
        """Learn from one frame; the static foreground blobs, or None while warming up.
        `hold`: normalised xyxy boxes the long-term background must not learn (reported objects)."""
        frame = downscale(image, self.width).astype(np.float32)
        if self.long is None or self.short is None:
            self._warm(frame, ts)
            return None
        assert self._last_ts is not None
        dt = ts - self._last_ts
        if dt <= 0:  # a repeated or out-of-order timestamp: nothing to learn
            dt = 0.0
        self._last_ts = ts
        if self._prev is not None and _lighting_step(self._prev, frame) > RELIGHT_STEP:
            self._relight_until = ts + 3.0 * self.settle_time
            self._relight_keep = self._objects()  # what lay there before the step is not the new lighting
        self._prev = frame.copy()
        frame *= _channel_gains(self.long, frame)
        long_, short = self.long, self.short
        assert self.differs_since is not None
        differs = _channel_max(cv2.absdiff(frame, long_)) > self.threshold
        self.differs_since[~differs] = np.inf
        self.differs_since[differs & np.isinf(self.differs_since)] = (
            ts  # the first frame of this run that differs
        )

        a_s = learning_rate(dt, self.settle_time)
        cv2.accumulateWeighted(frame, short, a_s)
        d_long = _channel_max(cv2.absdiff(short, long_))
        d_frame = _channel_max(cv2.absdiff(frame, short))
        self.threshold = max(self.min_contrast, 3.0 * 1.4826 * float(np.median(d_frame[::2, ::2])))
        raw = ((d_long > self.threshold) & (d_frame < self.threshold)).astype(np.uint8)
        static = cv2.morphologyEx(cv2.morphologyEx(raw, cv2.MORPH_OPEN, _KERNEL3), cv2.MORPH_CLOSE, _KERNEL5)
        blobs = self._blobs(static, d_long)

        a_l = learning_rate(dt, self.learn_time)
        rate = np.full(static.shape, a_l, dtype=np.float32)
        rate[cv2.dilate(static, _KERNEL5) > 0] = a_l / self.absorb
        ghosts = np.isin(blobs.labels, np.flatnonzero(~blobs.added) + 1)
        rate[ghosts] = a_s  # heal: what was there is gone, and what is there now has settled
        if ts < self._relight_until:
            # the new lighting is learnt fast, but not an object that lay there before the step: new light on
            # it can flatten its edges (clipping) so that it reads as a ghost, and ghosts heal fast
            keep = self._relight_keep
            rate[:] = a_s
            if keep is not None:
                rate[keep] = a_l / self.absorb
        if hold is not None and len(hold):
            rate[boxes_mask(hold, static.shape, grow=0.1)] = 0.0
        long_ += (frame - long_) * rate[..., None]
        self._last_blobs = blobs
        return blobs

    def _objects(self) -> np.ndarray | None:
        """bool [H, W]: the static blobs of new structure in the last frame (objects put down), grown a little."""
        b = self._last_blobs
        if b is None or not b.added.any():
            return None
        mask = np.isin(b.labels, np.flatnonzero(b.added) + 1).astype(np.uint8)
        return cv2.dilate(mask, _KERNEL5) > 0

    def _warm(self, frame: Image, ts: float) -> None:
        if self._first_ts is None:
            self._first_ts = ts
        if ts - self._last_sample_ts >= self.warmup / 10.0:
            if self._samples:
                frame = frame * _channel_gains(self._samples[0], frame)
            self._samples.append(frame)
            self._last_sample_ts = ts
        if ts - self._first_ts >= self.warmup and len(self._samples) >= 3:
            seed = np.median(np.stack(self._samples), axis=0).astype(np.float32)
            self.long, self.short = seed, seed.copy()
            self.differs_since = np.full(seed.shape[:2], np.inf, dtype=np.float64)
            self._samples.clear()
            self._last_ts = ts

    def _blobs(self, static: Image, d_long: Image) -> StaticBlobs:
        assert self.long is not None and self.short is not None
        h, w = static.shape
        n, labels, stats, _ = cv2.connectedComponentsWithStats(static, connectivity=8)
        n -= 1
        if n == 0:
            none = np.empty(0, np.float32)
            return StaticBlobs(
                labels, none.reshape(0, 4), none.astype(int), none.astype(bool), none, none.astype(np.float64)
            )
        x, y, bw, bh, areas = (stats[1:, i] for i in range(5))
        boxes = np.stack([x / w, y / h, (x + bw) / w, (y + bh) / h], axis=1).astype(np.float32)
        flat = labels.ravel()
        contrast = (
            np.bincount(flat, d_long.ravel(), minlength=n + 1)[1:] / np.maximum(areas, 1) / self.threshold
        )
        # added or removed: compare edge strength of the settled view and the background on each blob's rim
        rim = cv2.dilate(labels.astype(np.float32), _KERNEL5).astype(np.int32)
        rim[labels > 0] = 0
        inner = labels.copy()
        inner[cv2.erode(static, _KERNEL3) > 0] = 0  # the blob's own border pixels
        band = np.where(inner > 0, inner, rim).ravel()
        e_short = _grad_mag(grey(self.short)).ravel()
        e_long = _grad_mag(grey(self.long)).ravel()
        s = np.bincount(band, e_short, minlength=n + 1)[1:]
        lo = np.bincount(band, e_long, minlength=n + 1)[1:]
        added = s >= lo
        assert self.differs_since is not None
        appeared = _label_median(self.differs_since, labels, n)
        return StaticBlobs(labels, boxes, areas.astype(int), added, contrast.astype(np.float32), appeared)


_KERNEL3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
_KERNEL5 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def _label_median(values: np.ndarray, labels: Image, n: int) -> np.ndarray:
    """[n]: the median of `values` over each label 1..n's pixels (one sort, no Python loop over pixels)."""
    flat = labels.ravel()
    inside = flat > 0
    lab, val = flat[inside], values.ravel()[inside]
    order = np.lexsort((val, lab))
    lab, val = lab[order], val[order]
    starts = np.searchsorted(lab, np.arange(1, n + 1))
    ends = np.searchsorted(lab, np.arange(1, n + 1), side="right")
    return val[(starts + ends - 1) // 2].astype(np.float64)


def _channel_max(image: Image) -> Image:
    b, g, r = cv2.split(image)
    return cv2.max(cv2.max(b, g), r)


def _grad_mag(g: Image) -> Image:
    return cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))


RELIGHT_STEP = 0.12  # |log gain| between consecutive frames that makes a lighting step (x0.89 / x1.13)


def _lighting_step(prev: Image, frame: Image) -> float:
    """The largest per-channel |log gain| from `prev` to `frame`: 0 for the same lighting."""
    g = _channel_gains(frame, prev)
    return float(np.max(np.abs(np.log(np.clip(g, 1e-3, None)))))


def _channel_gains(target: Image, frame: Image) -> np.ndarray:
    """Per-channel gains that bring `frame` to `target`'s exposure and white balance (dusk turns blue)."""
    return np.array([median_ratio(target[..., c], frame[..., c]) for c in range(3)], dtype=np.float32)
