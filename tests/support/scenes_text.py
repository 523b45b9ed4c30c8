"""Scenes with text in them, on real footage (vtest.avi), for the `posted_text` rule: a poster with Chinese text
pasted with perspective on a building facade at a known time, a banner on the centre building, and a person
cut out of vtest wearing a printed T-shirt, walking (and standing) in front of the facade.

Text is rendered with PIL in Noto Sans CJK (Debian `fonts-noto-cjk`, installed by scripts/setup.sh --test);
PIL comes with rapidocr_onnxruntime (a dependency) and scikit-image.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tests.support.scenes import Frame, Scene, vtest, vtest_frames

CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
CJK_FONT_SC = 2  # the font collection's Simplified Chinese face
Quad = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]

# where things go in vtest (768x576 pixels): the brick facade of the building top left, and the brick band
# above the centre building's windows
FACADE_POSTER: Quad = ((12, 8), (72, 10), (72, 48), (12, 47))
CENTRE_POSTER: Quad = ((470, 3), (530, 3), (530, 29), (470, 29))
CENTRE_BANNER: Quad = ((335, 5), (555, 6), (555, 28), (335, 27))


def render_text(
    lines: list[str],
    size: tuple[int, int],
    bg: tuple[int, int, int] = (245, 245, 235),
    fg: tuple[int, int, int] = (30, 30, 200),
) -> Frame:
    """A printed sheet (BGR) with `lines` centred on it, one under the other, as large as they fit."""
    w, h = size
    font_px = int(min(0.8 * h / len(lines), 0.9 * w / max(len(line) for line in lines)))
    font = ImageFont.truetype(CJK_FONT, font_px, index=CJK_FONT_SC)
    im = Image.new("RGB", (w, h), bg[::-1])
    draw = ImageDraw.Draw(im)
    step = h / len(lines)
    for i, line in enumerate(lines):
        draw.text((w / 2, step * (i + 0.5)), line, font=font, fill=fg[::-1], anchor="mm")
    return cv2.cvtColor(np.asarray(im), cv2.COLOR_RGB2BGR)


def warp_onto(frame: Frame, sheet: Frame, quad: Quad) -> Frame:
    """`sheet` pasted onto `frame` with the perspective that maps its corners to `quad` (TL, TR, BR, BL)."""
    h, w = sheet.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(src, np.float32(quad))
    size = (frame.shape[1], frame.shape[0])
    warped = cv2.warpPerspective(sheet, m, size, flags=cv2.INTER_AREA)
    alpha = cv2.warpPerspective(np.ones((h, w), np.float32), m, size, flags=cv2.INTER_LINEAR)[..., None]
    return (frame * (1 - alpha) + warped * alpha).astype(np.uint8)


@dataclass(frozen=True)
class Posted:
    """A sheet with `lines` on it pasted on `quad` at media time `t0`, taken down at `t1` (exact truth)."""

    lines: tuple[str, ...]
    quad: Quad
    t0: float
    t1: float = math.inf
    sheet_size: tuple[int, int] = (300, 200)
    bg: tuple[int, int, int] = (245, 245, 235)  # BGR: white paper
    fg: tuple[int, int, int] = (30, 30, 200)  # red print
    fps: float = 2.0

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def scene(self, base: Scene | None = None) -> Scene:
        base = base or vtest(self.fps)
        sheet = render_text(list(self.lines), self.sheet_size, self.bg, self.fg)

        def frame(t: float) -> Frame:
            f = base(t)
            return warp_onto(f, sheet, self.quad) if self.t0 <= t < self.t1 else f

        return frame

    def normalised(self, size: tuple[int, int] = (768, 576)) -> tuple[float, float, float, float]:
        xs, ys = [p[0] for p in self.quad], [p[1] for p in self.quad]
        return (min(xs) / size[0], min(ys) / size[1], max(xs) / size[0], max(ys) / size[1])


# ---------------------------------------------------------------- a person in a printed T-shirt


@functools.lru_cache(maxsize=1)
def person_cutout(scale: float = 1.6) -> tuple[Frame, np.ndarray]:
    """The man standing on the grass in vtest's first frame, cut out against the footage's median (BGR patch,
    alpha 0..1), scaled by `scale`."""
    frames = vtest_frames(2.0)
    median = np.median(np.stack(frames[::4]), axis=0).astype(np.uint8)
    x1, y1, x2, y2 = 248, 214, 288, 314
    patch, bg = frames[0][y1:y2, x1:x2], median[y1:y2, x1:x2]
    diff = cv2.absdiff(patch, bg).max(axis=2)
    mask = cv2.morphologyEx((diff > 30).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    body = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.float32)
    size = (round(patch.shape[1] * scale), round(patch.shape[0] * scale))
    alpha = cv2.GaussianBlur(cv2.resize(body, size, interpolation=cv2.INTER_LINEAR), (3, 3), 0)
    return cv2.resize(patch, size, interpolation=cv2.INTER_CUBIC).astype(np.float32), alpha


def printed_shirt(lines: tuple[str, ...], scale: float = 1.6) -> tuple[Frame, np.ndarray]:
    """The cut-out person with a white print carrying `lines` on the torso."""
    patch, alpha = person_cutout(scale)
    patch = patch.copy()
    ys, xs = np.nonzero(alpha > 0.5)
    top, bottom = ys.min(), ys.max()
    height = bottom - top
    ty1, ty2 = int(top + 0.24 * height), int(top + 0.50 * height)
    row = xs[(ys > ty1) & (ys < ty2)]
    cx = int(np.median(row))
    half = int(0.5 * (ty2 - ty1) * 1.1)
    tx1, tx2 = max(cx - half, 0), min(cx + half, patch.shape[1])
    sheet = render_text(list(lines), (tx2 - tx1, ty2 - ty1), bg=(235, 235, 235), fg=(20, 20, 20))
    patch[ty1:ty2, tx1:tx2] = sheet
    return patch, alpha


@dataclass(frozen=True)
class ShirtWalker:
    """The printed-T-shirt person walking left to right in front of the facade at `speed` px/s from media time
    `t0`, standing still from `stand_at` for `stand_for` seconds (0: never), feet at image row `feet_y`."""

    lines: tuple[str, ...] = ("创城", "有我")
    t0: float = 0.0
    x0: float = -60.0
    speed: float = 12.0
    stand_at: float = math.inf
    stand_for: float = 0.0
    feet_y: int = 172
    fps: float = 2.0

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def x(self, t: float) -> float:
        walked = max(0.0, t - self.t0)
        if walked > self.stand_at - self.t0:
            walked = max(self.stand_at - self.t0, walked - self.stand_for)
        return self.x0 + self.speed * walked

    def scene(self, base: Scene | None = None) -> Scene:
        base = base or vtest(self.fps)
        patch, alpha = printed_shirt(self.lines)
        ph, pw = alpha.shape

        def frame(t: float) -> Frame:
            f = base(t)
            if t < self.t0:
                return f
            x, y = int(round(self.x(t))), self.feet_y - ph
            fx1, fx2 = max(x, 0), min(x + pw, f.shape[1])
            if fx2 <= fx1:
                return f
            out = f.copy()
            p, a = patch[:, fx1 - x : fx2 - x], alpha[:, fx1 - x : fx2 - x, None]
            roi = out[y : y + ph, fx1:fx2].astype(np.float32)
            out[y : y + ph, fx1:fx2] = np.clip(roi * (1 - a) + p * a, 0, 255).astype(np.uint8)
            return out

        return frame

    def torso_box(self, t: float) -> tuple[int, int, int, int]:
        """Pixels x1, y1, x2, y2 around the person at media time t (to read the shirt directly)."""
        _, alpha = person_cutout()
        ph, pw = alpha.shape
        x = int(round(self.x(t)))
        return (max(x, 0), self.feet_y - ph, x + pw, self.feet_y)
