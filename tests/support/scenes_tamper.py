"""Camera tampering and its look-alikes on real footage (vtest), with exact ground truth: a partial cover (a dark
cloth over most of the view, real footage around it, optionally a textured fold along its edge), a sprayed or
hazed lens, a zoom, a turn; and the night IR switch (monochrome, gain change), which is not tampering.
Each takes a scene and the onset `t0`, like the faults in `tests.support.scenes`."""

from __future__ import annotations

import math

import cv2
import numpy as np

from tests.support.scenes import Frame, Scene, after, gain


def cover_box(shape: tuple[int, ...], share: float) -> tuple[int, int, int, int]:
    """x1, y1, x2, y2 of a centred rectangle over `share` of the view (its real footage shows around it)."""
    h, w = shape[:2]
    side = math.sqrt(share)
    cw, ch = round(w * side), round(h * side)
    x1, y1 = (w - cw) // 2, (h - ch) // 2
    return x1, y1, x1 + cw, y1 + ch


def partial_cover(scene: Scene, t0: float, share: float = 0.8, fold: bool = False) -> Scene:
    """A dark cloth held over `share` of the lens, out of focus but lit unevenly (a gentle brightness ramp);
    with `fold`, a band of creases along its edge (textured, high contrast) that a block count would call
    structure."""

    def effect(f: Frame, t: float) -> Frame:
        h, w = f.shape[:2]
        x1, y1, x2, y2 = cover_box(f.shape, share)
        cw, ch = x2 - x1, y2 - y1
        ramp = np.linspace(0.8, 1.2, cw, dtype=np.float32)[None, :, None]
        cloth = np.full((ch, cw, 3), (38, 40, 46), np.float32) * ramp
        if (
            fold
        ):  # creases: dark/light stripes in a band 12 % of the cloth's width along its left and top edges
            band = max(8, round(0.12 * cw))
            xs = np.arange(cw, dtype=np.float32)
            ys = np.arange(ch, dtype=np.float32)
            crease_x = 1.0 + 0.9 * np.sin(xs / 3.0) * (xs < band)
            crease_y = 1.0 + 0.9 * np.sin(ys / 4.0) * (ys < band)
            cloth *= crease_x[None, :, None] * crease_y[:, None, None]
        out = f.copy()
        out[y1:y2, x1:x2] = np.clip(cloth, 0, 255).astype(np.uint8)
        return gain(out, 1.0, noise=1.5, seed=int(t * 10))

    return after(scene, t0, effect)


def hazed(scene: Scene, t0: float, veil: float = 0.7, level: float = 190.0) -> Scene:
    """Spray or grease on the lens: a milky veil (`veil` of the light is scattered to grey `level`) and a
    slight smear; contrast falls while the picture gets no darker."""

    def effect(f: Frame, t: float) -> Frame:
        smeared = cv2.GaussianBlur(f, (0, 0), 1.2).astype(np.float32)
        out = smeared * (1.0 - veil) + level * veil
        return gain(out.astype(np.uint8), 1.0, noise=1.5, seed=int(t * 10))

    return after(scene, t0, effect)


def zoomed(scene: Scene, t0: float, factor: float = 1.4) -> Scene:
    """The lens is zoomed in by `factor` about the centre (a varifocal ring turned)."""

    def effect(f: Frame, t: float) -> Frame:
        h, w = f.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, factor)
        return cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    return after(scene, t0, effect)


def turned(scene: Scene, t0: float, pan: float = 0.3, tilt_deg: float = 6.0) -> Scene:
    """The camera is turned away: panned by `pan` of the width and rolled by `tilt_deg` (the new part of the
    view is the old one mirrored, so it is real texture, not a blank)."""

    def effect(f: Frame, t: float) -> Frame:
        h, w = f.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), tilt_deg, 1.0)
        m[0, 2] -= pan * w
        return cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    return after(scene, t0, effect)


def ir_switch(scene: Scene, t0: float, g: float = 1.35, noise: float = 2.5) -> Scene:
    """Night mode: the IR-cut filter drops, the picture goes monochrome, the gain changes (brighter, a
    different tone curve) and sensor noise rises. Not tampering."""
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** 0.8, 0, 255).astype(np.uint8)

    def effect(f: Frame, t: float) -> Frame:
        mono = cv2.LUT(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), lut)
        return gain(cv2.cvtColor(mono, cv2.COLOR_GRAY2BGR), g, noise=noise, seed=int(t * 10))

    return after(scene, t0, effect)
