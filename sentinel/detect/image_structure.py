"""Image helpers the scene models and scene rules share: downscaling, grey, phase shift, noise level, and
structure (gradient) comparisons of two views that do not care about brightness; box and polygon masks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Image = np.ndarray


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


def median_ratio(target: Image, frame: Image) -> float:
    """Gain that brings `frame` to `target`'s brightness: the median per-pixel ratio (robust to foreground)."""
    t, f = target[::4, ::4].ravel(), frame[::4, ::4].ravel()
    ok = (f > 8) & (f < 250) & (t > 8)
    if ok.sum() < 100:
        return 1.0
    return float(np.clip(np.median(t[ok] / f[ok]), 0.1, 10.0))


def clear_structure(s: Structure, k: float = 6.0, relative: float = 0.0) -> Image:
    """bool: pixels with clear structure, above `k` times the noise energy (a dark view keeps its edges) and,
    with `relative`, above that share of the view's own strong structure (its 90th percentile energy): the
    soft shading of a cloth's folds is not structure beside the edges of the scene around it, whatever the
    exposure, since both scale with the gain."""
    floor = 16.0
    if relative > 0.0:
        floor = max(floor, relative * float(np.percentile(s.energy[::2, ::2], 90)))
    return s.energy > k * s.noise + floor


def largest_featureless(clear: Image, reach: int) -> Image:
    """bool: the largest connected region with no clear structure within `reach` pixels: where a cloth, a
    hand or paint hides the view, whatever the shape of its edge (an edge band textured by folds or by the
    footage around it only trims the region by its own width)."""
    size = 2 * reach + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    featureless = cv2.dilate(clear.astype(np.uint8), kernel) == 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(featureless.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros(clear.shape, dtype=bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def tonal_contrast(g: Image) -> float:
    """(p90 - p10) / (p90 + p10) of a grey picture: a gain (dusk, exposure) cancels, a veil of scattered
    light (spray, grease, fog on the lens) lifts the dark end and lowers it."""
    lo, hi = np.percentile(g[::2, ::2], (10, 90))
    return float(hi - lo) / max(float(hi + lo), 1.0)
