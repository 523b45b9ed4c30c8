"""Base footage other than vtest, and the variants laid over any footage: night, sensor noise, cloud shadows
passing, an IR switch, light steps; tampering of the newer kinds (a partial cover with textured edges, a
sprayed lens, a zoomed or turned view); people lingering (cut from the footage, standing 1-3 minutes, then
leaving). Every variant is a pure function of media time, so a clip is rebuilt bit for bit from its recipe.

Base footage (`BASES`):
- `vtest`: OpenCV's vtest.avi (Debian `opencv-doc`), pedestrians, elevated fixed camera (the tuning footage:
  the rule tests in tests/support/scenes.py are built on it);
- `tree`: OpenCV's tree.avi (Debian `opencv-doc`), 320x240, 29.6 s (68 pictures, about 2.3 fps): a fixed camera looking through
  a window at a tree whose foliage moves in the wind, overexposed sky. No people. Held out: no rule was tuned
  on it. Scaled to 768x576 (bicubic) so that every injection and zone works in the same pixel frame.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tests.support import scenes
from tests.support.scenes import Frame, Scene

W, H = 768, 576
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
TREE_AVI = OPENCV_DATA / "tree.avi"
BASE_FPS = 2.0  # every base is sampled at 2 fps and looped


@functools.lru_cache(maxsize=1)
def tree_frames() -> tuple[Frame, ...]:
    """tree.avi sampled at 2 fps by its timestamps, scaled to W x H. The AVI declares 444 frames at 15 fps,
    but only 68 carry a picture (the capture ran at about 2.3 fps; the rest are empty repeats), so each
    sample is the last picture at or before its time: 59 samples (an odd count: a 1 fps run, taking every
    second sample, then shows all of them over two loops)."""
    import av

    if not TREE_AVI.is_file():
        raise FileNotFoundError(f"{TREE_AVI}: install the Debian package 'opencv-doc'")
    with av.open(str(TREE_AVI)) as c:
        decoded = [(float(f.time or 0.0), f.to_ndarray(format="bgr24")) for f in c.decode(video=0)]
    end = decoded[-1][0]
    out: list[Frame] = []
    k = 0
    while k / BASE_FPS <= end:
        pic = [img for ts, img in decoded if ts <= k / BASE_FPS + 1e-6][-1]
        f = cv2.resize(pic, (W, H), interpolation=cv2.INTER_CUBIC)
        f.flags.writeable = False
        out.append(f)
        k += 1
    if len(out) % 2 == 0:
        out.pop()
    return tuple(out)


def tree() -> Scene:
    frames = tree_frames()
    return lambda t: frames[int(round(t * BASE_FPS)) % len(frames)]


BASES: dict[str, Callable[[], Scene]] = {"vtest": lambda: scenes.vtest(BASE_FPS), "tree": tree}
DISTINCT_SECONDS = {"vtest": 79.5, "tree": 29.6}  # how much real footage each base loops


def random_moment(t: float, loop: float) -> float:
    """A pseudo-random moment of a `loop`-second footage for media time `t`, independent from one frame to
    the next (SplitMix64 of the millisecond). The first version multiplied by Knuth's 2654435761 mod 2**32: a
    Weyl sequence whose step at 5 s frames was 5.03 s of footage, so samples 30 s apart moved 0.6 s through
    the loop, replaying it in slow motion (a hand in 4.5 s of the tree footage stayed in a 2-minute median)."""
    z = (int(round(t * 1000)) + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return ((z ^ (z >> 31)) / 2**64) * loop


def available(base: str) -> str | None:
    path = {"vtest": OPENCV_DATA / "vtest.avi", "tree": TREE_AVI}[base]
    return None if path.is_file() else f"{path} not found (Debian package opencv-doc)"


# ---------------------------------------------------------------- effects over the whole picture

Effect = tuple  # (name, *parameters): hashable, part of the clip's recipe


def _noise(f: np.ndarray, sigma: float, t: float) -> np.ndarray:
    return f + scenes.sensor_noise(f.shape, sigma, int(round(t)))


def night(f: Frame, t: float, level: float = 0.28, sigma: float = 5.0) -> Frame:
    """Night under street lights: the picture at `level` of its day exposure, warm-tinted (sodium lamps),
    with the sensor noise of a camera at high gain."""
    out = f.astype(np.float32) * level * np.array([0.8, 1.0, 1.25], np.float32)
    return np.clip(_noise(out, sigma, t), 0, 255).astype(np.uint8)


def ir(f: Frame, t: float) -> Frame:
    """Night with the IR illuminator on: grey, bright in the middle and falling off to the edges, noisy."""
    grey = cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    fall = 1.0 - 0.55 * (((xx - W / 2) / (W / 2)) ** 2 + ((yy - H * 0.6) / H) ** 2)
    out = np.clip(grey * 0.85 * np.clip(fall, 0.3, 1.0), 0, 255)
    out = np.repeat(out[..., None], 3, axis=2)
    return np.clip(_noise(out, 4.0, t), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _cloud(seed: int) -> np.ndarray:
    """A soft cloud shadow (0..1), about 0.7 x 0.6 of the view, irregular."""
    rng = np.random.default_rng(seed)
    m = np.zeros((H, int(W * 0.8)), np.float32)
    for _ in range(7):
        cx, cy = rng.uniform(0.25, 0.75) * m.shape[1], rng.uniform(0.3, 0.7) * H
        ax, ay = rng.uniform(0.12, 0.25) * m.shape[1], rng.uniform(0.15, 0.3) * H
        cv2.ellipse(m, (int(cx), int(cy)), (int(ax), int(ay)), float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    return cv2.GaussianBlur(m, (0, 0), 40)


def shadows(f: Frame, t: float, period: float = 300.0, cross: float = 90.0, depth: float = 0.45) -> Frame:
    """Cloud shadows passing: every `period` s one drifts across the view in `cross` s, darkening it by up
    to `depth`; in between, the plain picture."""
    k, into = divmod(t, period)
    if into >= cross:
        return f
    cloud = _cloud(int(k) % 4)
    cw = cloud.shape[1]
    x0 = int(round(-cw + (W + cw) * into / cross))
    shade = np.zeros((H, W), np.float32)
    a, b = max(x0, 0), min(x0 + cw, W)
    if a < b:
        shade[:, a:b] = cloud[:, a - x0 : b - x0]
    out = f.astype(np.float32) * (1.0 - depth * shade)[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def light_steps(f: Frame, t: float, every: float = 600.0) -> Frame:
    """Auto-exposure or sun and cloud: the light steps between x1, x0.7, x1.3 every `every` s."""
    g = (1.0, 0.7, 1.3)[int(t // every) % 3]
    return f if g == 1.0 else scenes.gain(f, g)


def dusk(f: Frame, t: float, start: float = 600.0, length: float = 2400.0) -> Frame:
    """Dusk: from `start`, over `length` s, the day picture fades to `night`'s exposure, warming and gaining
    sensor noise as the camera raises its gain; night after that."""
    k = min(max((t - start) / length, 0.0), 1.0)
    if k == 0.0:
        return f
    level = 1.0 - k * (1.0 - 0.28)
    tint = np.array([1.0 - 0.2 * k, 1.0, 1.0 + 0.25 * k], np.float32)
    out = f.astype(np.float32) * level * tint
    return np.clip(_noise(out, 5.0 * k, t), 0, 255).astype(np.uint8)


def apply_effect(scene: Scene, effect: Effect) -> Scene:
    name, *p = effect
    if name == "night":
        return lambda t: night(scene(t), t, *p)
    if name == "noise":
        sigma = p[0]
        return lambda t: np.clip(_noise(scene(t).astype(np.float32), sigma, t), 0, 255).astype(np.uint8)
    if name == "ir_switch":  # night, then the IR illuminator switches on at p[0] and off at p[1]
        on, off = p

        def frame(t: float) -> Frame:
            f = scene(t)
            return ir(f, t) if on <= t < off else night(f, t)

        return frame
    if name == "shadows":
        return lambda t: shadows(scene(t), t, *p)
    if name == "light_steps":
        return lambda t: light_steps(scene(t), t, *p)
    if name == "dusk":
        return lambda t: dusk(scene(t), t, *p)
    raise ValueError(f"unknown effect {name!r}")


# ---------------------------------------------------------------- newer kinds of tampering


def partial_cover(f: Frame, t: float, share: float = 0.8) -> Frame:
    """A dark cloth over `share` of the view, from the top left, its edge ragged and folded: the footage
    (textured, moving) still shows along the right and bottom edges."""
    h, w = f.shape[:2]
    side = math.sqrt(share)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    edge_x = w * side + 12 * np.sin(yy / 23.0) + 6 * np.sin(yy / 7.0)
    edge_y = h * side + 10 * np.sin(xx / 31.0) + 5 * np.sin(xx / 9.0)
    cloth = (xx < edge_x) & (yy < edge_y)
    folds = 38 + 10 * np.sin(xx / 40.0 + yy / 55.0) + 6 * np.sin(xx / 13.0 - yy / 17.0)
    cloth_img = np.repeat(folds[..., None], 3, axis=2) * np.array([0.9, 1.0, 1.1], np.float32)
    cloth_img = _noise(cloth_img, 1.5, t)
    out = f.astype(np.float32)
    out[cloth] = cloth_img[cloth]
    return np.clip(out, 0, 255).astype(np.uint8)


def sprayed(f: Frame, t: float, strength: float = 0.75) -> Frame:
    """Paint or water sprayed on the lens: a bright milky haze over a blurred picture, thicker in the middle."""
    h, w = f.shape[:2]
    blur = cv2.GaussianBlur(f, (0, 0), 6).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    thick = strength * np.clip(1.2 - 0.6 * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2) * 4, 0.5, 1.0)
    out = blur * (1 - thick[..., None]) + 205.0 * thick[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def zoomed(f: Frame, t: float, factor: float = 1.35) -> Frame:
    """Someone zoomed the lens: the middle of the view, `factor` times larger."""
    h, w = f.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, factor)
    return cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def turned(f: Frame, t: float, fraction: float = 0.2) -> Frame:
    """The camera turned away: the view pans by `fraction` of its width (the side that comes into view is
    the footage mirrored: new ground the reference never saw)."""
    h, w = f.shape[:2]
    m = np.array([[1, 0, -round(fraction * w)], [0, 1, 0]], np.float32)
    return cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REFLECT)


TAMPER_EFFECTS: dict[str, Callable[..., Frame]] = {
    "partial_cover": partial_cover,
    "sprayed": sprayed,
    "zoomed": zoomed,
    "turned": turned,
}


@dataclass(frozen=True)
class Tamper2:
    """From `t0`: one of the newer kinds of tampering (`TAMPER_EFFECTS`), with its parameter if given."""

    how: str
    t0: float
    amount: float | None = None

    def onset(self) -> float:
        return self.t0

    def where(self) -> None:
        return None

    def apply(self, scene: Scene) -> Scene:
        fn = TAMPER_EFFECTS[self.how]
        args = () if self.amount is None else (self.amount,)
        return scenes.after(scene, self.t0, lambda f, t: fn(f, t, *args))


# ---------------------------------------------------------------- people lingering (event-free)


@dataclass(frozen=True)
class Linger:
    """People cut from the footage who come, stand for 1-3 minutes in one place (shifting their weight),
    and leave; `slots` of them at a time at most, each slot resting 20-90 s between visits. Their places are
    drawn on `zones` (the lawn and the plaza: where scene_change and count_in_zone look). Nothing here is an
    event: no rule should fire."""

    duration: float
    slots: int = 3
    zones: tuple[str, ...] = ("lawn", "plaza")
    seed: int = 1

    def onset(self) -> None:
        return None

    def where(self) -> None:
        return None

    def visits(self) -> list[tuple[float, float, float, float, int]]:
        """(arrive, leave, x, feet y, cut-out index) of every visit."""
        from bench.scenarios import ZONE_POLYS, _inside, height_at, person_cutouts

        polys = dict(ZONE_POLYS)
        rng = np.random.default_rng(self.seed)
        n = len(person_cutouts())
        out = []
        for _ in range(self.slots):
            t = float(rng.uniform(0, 60))
            while t < self.duration:
                stay = float(rng.uniform(60, 180))
                for _ in range(1000):
                    x, y = rng.uniform(40, W - 40), rng.uniform(150, H - 8)
                    zone = polys[self.zones[int(rng.integers(len(self.zones)))]]
                    if _inside(zone, x, y) and height_at(y) < y - 4:
                        break
                out.append((t, t + stay, float(x), float(y), int(rng.integers(n))))
                t += stay + float(rng.uniform(20, 90))
        return out

    def apply(self, scene: Scene) -> Scene:
        from bench.scenarios import height_at, paste_at, person_cutouts

        pool = person_cutouts()
        visits = []
        for arrive, leave, x, y, k in self.visits():
            c = pool[k]
            ch, cw = c.alpha.shape
            h = height_at(y)
            visits.append((arrive, leave, x, y, c.scaled(max(2, round(cw * h / ch)), max(2, round(h)))))
        visits.sort(key=lambda v: v[3])  # far ones first

        def frame(t: float) -> Frame:
            f = scene(t)
            for k, (arrive, leave, x, y, c) in enumerate(visits):
                if arrive <= t < leave:
                    f = paste_at(f, c, x + round(math.sin(0.9 * t + 1.7 * k)), y)
            return f

        return frame
