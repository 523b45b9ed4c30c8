"""Scene models a camera keeps besides its detections.

- `BackgroundModel`: a slow dual background (Porikli's long-term / short-term pair) on a downscaled colour
  frame. *Static foreground* is what differs from the long-term background but agrees with the short-term one
  (and with the frame): something new that stays (dumped rubbish, piled materials), not people passing.
- `ReferenceView`: the operator-approved view of a camera (`reference_view.png` in its state folder), that
  scene-change and camera-health rules compare against. Built once from the first stable frames, reloaded
  after a restart, replaced only after an explicit `accept_new_view()`, never silently.
- Structure helpers (gradient energy, local gradient correlation, noise level) that compare two views of a
  scene independently of brightness: used by both the background model and the rules.

Analysis runs at 0.2–5 fps, so every time constant is in seconds and each update derives its learning rate
from the frame timestamps: alpha = 1 - exp(-dt / tau).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

Image = np.ndarray


# ---------------------------------------------------------------- helpers


def downscale(image: Image, width: int) -> Image:
    """`image` resized to `width` pixels wide, aspect kept: Gaussian pyramid halvings, then an area average
    (both low-pass, so the small frame is also less noisy; 2-4x cheaper than one big INTER_AREA)."""
    h, w = image.shape[:2]
    height = max(1, round(h * width / w))
    while image.shape[1] >= 2 * width:
        image = cv2.pyrDown(image)
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def grey(image: Image) -> Image:
    """float32 grey of a BGR (uint8 or float32) or already grey image."""
    g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return g.astype(np.float32, copy=False)


def small_grey(image: Image, width: int) -> Image:
    """float32 grey of a BGR frame at `width` (grey first: shrinking one channel is 3x cheaper)."""
    g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return downscale(g, width).astype(np.float32)


def phase_shift(a: Image, b: Image, window: Image | None = None) -> tuple[float, float, float]:
    """(dx, dy, response): how far `b` is displaced against `a` (phase correlation: sub-pixel, gain-invariant).
    Works on copies: OpenCV's phaseCorrelate multiplies its inputs by the window in place."""
    (dx, dy), response = cv2.phaseCorrelate(a.astype(np.float32), b.astype(np.float32), window)
    return float(dx), float(dy), float(response)


def translate(image: Image, dx: float, dy: float) -> Image:
    """`image` moved by (dx, dy) pixels (sub-pixel, edges replicated)."""
    h, w = image.shape[:2]
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], dtype=np.float32)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def learning_rate(dt: float, tau: float) -> float:
    return 1.0 - math.exp(-max(dt, 0.0) / tau) if tau > 0 else 1.0


def noise_sigma(g: Image) -> float:
    """Standard deviation of the image noise (Immerkær 1996: a Laplacian-difference mask cancels structure)."""
    h, w = g.shape
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    response = np.abs(cv2.filter2D(g, cv2.CV_32F, kernel)[1:-1, 1:-1])
    return float(response.sum()) * math.sqrt(math.pi / 2) / (6.0 * (w - 2) * (h - 2))


SOBEL_NOISE_GAIN = 24.0  # E[gx² + gy²] of 3x3 Sobel on white noise of unit variance: 2 * (1+4+1 + 1+4+1)


@dataclass(frozen=True)
class Structure:
    """Gradients of one view, and their local energy (box mean of gx² + gy²) and noise energy."""

    gx: Image
    gy: Image
    energy: Image
    noise: float  # expected `energy` of pure noise

    @classmethod
    def of(cls, g: Image, window: int) -> Structure:
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
        energy = cv2.boxFilter(gx * gx + gy * gy, cv2.CV_32F, (window, window))
        return cls(gx, gy, energy, SOBEL_NOISE_GAIN * noise_sigma(g) ** 2)


@dataclass(frozen=True)
class StructureDiff:
    """Where a current view's structure (edges, texture) differs from a reference view's.

    `corr` is the local gradient correlation |Σ ∇r·∇c| / sqrt(Σ|∇r|² Σ|∇c|²) in a window: 1 for the same
    structure whatever the brightness, gain or offset (so also for a brightness step, dusk, shadows' interiors),
    ~0 for different structure. A pixel is judged (`evaluable`) only where structure is visible above the noise
    in one of the two views, after allowing for the global contrast change `gain`: at night fine texture sinks
    into the noise and becomes *unknown*, not *changed*.
    """

    corr: Image
    evaluable: Image  # bool
    changed: Image  # bool: evaluable and corr below the threshold
    gain: float  # contrast of the current view relative to the reference (gradient RMS ratio)

    @classmethod
    def of(
        cls, ref: Structure, cur: Structure, window: int, corr_min: float = 0.5, k: float = 6.0
    ) -> StructureDiff:
        cross = cv2.boxFilter(ref.gx * cur.gx + ref.gy * cur.gy, cv2.CV_32F, (window, window))
        corr = np.abs(cross) / np.sqrt(ref.energy * cur.energy + 1e-3)
        strong = ref.energy > np.percentile(ref.energy[::4, ::4], 75)
        ratio = (cur.energy[strong] - cur.noise) / np.maximum(ref.energy[strong], 1e-3)
        gain2 = float(np.clip(np.median(ratio), 0.0, 100.0)) if ratio.size else 1.0
        visible_ref = gain2 * ref.energy > k * cur.noise + 4.0  # the reference's structure would show now
        visible_cur = (cur.energy > k * cur.noise + 4.0) & (cur.energy > k * gain2 * ref.noise + 4.0)
        evaluable = visible_ref | visible_cur
        return cls(corr, evaluable, evaluable & (corr < corr_min), math.sqrt(gain2))


def median5(images: list[Image]) -> Image:
    """Per-pixel median of five same-shaped images (a sorting network: ~100x faster than np.median)."""
    a, b, c, d, e = images
    lo_ab, hi_ab, lo_cd, hi_cd = cv2.min(a, b), cv2.max(a, b), cv2.min(c, d), cv2.max(c, d)
    x, y = cv2.max(lo_ab, lo_cd), cv2.min(hi_ab, hi_cd)  # the two middle values of a, b, c, d
    return cv2.max(cv2.min(e, cv2.max(x, y)), cv2.min(x, y))  # median of (e, x, y)


def boxes_mask(boxes: np.ndarray, shape: tuple[int, int], grow: float = 0.0) -> Image:
    """bool mask of normalised xyxy boxes, each grown by `grow` of its size on every side."""
    h, w = shape
    mask = np.zeros((h, w), dtype=np.uint8)
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float32).reshape(-1, 4):
        dx, dy = (x2 - x1) * grow, (y2 - y1) * grow
        c1, r1 = max(0, int((x1 - dx) * w)), max(0, int((y1 - dy) * h))
        c2, r2 = min(w, math.ceil((x2 + dx) * w)), min(h, math.ceil((y2 + dy) * h))
        mask[r1:r2, c1:c2] = 1
    return mask.astype(bool)


def polygon_mask(points: np.ndarray | None, shape: tuple[int, int]) -> Image:
    """bool mask of a normalised polygon (None: everything)."""
    h, w = shape
    if points is None:
        return np.ones((h, w), dtype=bool)
    mask = np.zeros((h, w), dtype=np.uint8)
    pts = np.round(np.asarray(points, dtype=np.float64) * [w, h]).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)


# ---------------------------------------------------------------- static foreground


@dataclass(frozen=True)
class StaticBlobs:
    """Connected regions of static foreground in one analysed frame (working resolution)."""

    labels: Image  # int32 [H, W]: 0 background, i = blob i - 1
    boxes: np.ndarray  # float32 [N, 4] normalised xyxy
    areas: np.ndarray  # int [N] pixels
    added: np.ndarray  # bool [N]: new structure appeared (an object put down), not an old one removed
    contrast: np.ndarray  # float32 [N]: mean colour difference to the long-term background / threshold

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
        self._samples: list[Image] = []
        self._first_ts: float | None = None
        self._last_sample_ts = -math.inf
        self._last_ts: float | None = None

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
        frame *= _channel_gains(self.long, frame)
        long_, short = self.long, self.short

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
        if hold is not None and len(hold):
            rate[boxes_mask(hold, static.shape, grow=0.1)] = 0.0
        long_ += (frame - long_) * rate[..., None]
        return blobs

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
            self._samples.clear()
            self._last_ts = ts

    def _blobs(self, static: Image, d_long: Image) -> StaticBlobs:
        assert self.long is not None and self.short is not None
        h, w = static.shape
        n, labels, stats, _ = cv2.connectedComponentsWithStats(static, connectivity=8)
        n -= 1
        if n == 0:
            none = np.empty(0, np.float32)
            return StaticBlobs(labels, none.reshape(0, 4), none.astype(int), none.astype(bool), none)
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
        return StaticBlobs(labels, boxes, areas.astype(int), added, contrast.astype(np.float32))


_KERNEL3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
_KERNEL5 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def _channel_max(image: Image) -> Image:
    b, g, r = cv2.split(image)
    return cv2.max(cv2.max(b, g), r)


def _grad_mag(g: Image) -> Image:
    return cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))


def _channel_gains(target: Image, frame: Image) -> np.ndarray:
    """Per-channel gains that bring `frame` to `target`'s exposure and white balance (dusk turns blue)."""
    return np.array([_median_ratio(target[..., c], frame[..., c]) for c in range(3)], dtype=np.float32)


def _median_ratio(target: Image, frame: Image) -> float:
    """Gain that brings `frame` to `target`'s brightness: the median per-pixel ratio (robust to foreground)."""
    t, f = target[::4, ::4].ravel(), frame[::4, ::4].ravel()
    ok = (f > 8) & (f < 250) & (t > 8)
    if ok.sum() < 100:
        return 1.0
    return float(np.clip(np.median(t[ok] / f[ok]), 0.1, 10.0))


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
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.with_name(PENDING_FILE).touch()
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
            off = np.abs(s * _median_ratio(m, s) - m) > 30.0
            if float(off.mean()) > 0.25:
                return False
        return True

    def _commit(self, median: Image) -> None:
        self._buffer.clear()
        if self.path is not None:
            ok, png = cv2.imencode(".png", median)
            if ok:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_bytes(png.tobytes())
                os.replace(tmp, self.path)
                self.path.with_name(PENDING_FILE).unlink(missing_ok=True)
                self._stamp = _stamp(self.path)
                log.info("reference view %s saved", self.path)
        self.image, self._pending = median, False
        self.version += 1
