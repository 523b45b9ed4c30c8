"""Synthetic scenes with exact ground truth, built on real footage (OpenCV's vtest.avi).

Each scene is a function `frame(t) -> BGR image` of media time `t` (seconds): a real vtest frame (looped)
with something composited in — a rubbish pile put down at `t0`, a structure growing over a time-lapse, a
brightness step or a dusk ramp, a covered, shifted or defocused view. Rules are fed frames directly with their
timestamps (no decoding pipeline, no RTSP), at 1–2 analysed frames per second of media time.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from sentinel.detect.detections import Detections
from tests.support.footage import CACHE_DIR, REPO_ROOT, VTEST_FPS, vtest_path

Frame = np.ndarray
Scene = Callable[[float], Frame]
Box = tuple[int, int, int, int]  # pixels x1, y1, x2, y2

T_BASE = 1_700_000_000.0  # epoch of media time 0 (timestamps are epoch seconds)


@functools.lru_cache(maxsize=2)
def vtest_frames(fps: float = 2.0) -> tuple[Frame, ...]:
    """vtest.avi decoded once and sampled at `fps` (768x576 BGR)."""
    cap = cv2.VideoCapture(str(vtest_path()))
    step = max(1, round(VTEST_FPS / fps))
    frames: list[Frame] = []
    index = 0
    try:
        while True:
            if index % step == 0:
                ok, frame = cap.read()
                if not ok:
                    break
                frame.flags.writeable = False
                frames.append(frame)
            elif not cap.grab():
                break
            index += 1
    finally:
        cap.release()
    assert frames, "vtest.avi decoded to nothing"
    return tuple(frames)


def vtest(fps: float = 2.0) -> Scene:
    """The real footage, looped (people jump at the loop point: a discontinuity, like a reconnect)."""
    frames = vtest_frames(fps)

    def frame(t: float) -> Frame:
        return frames[int(round(t * fps)) % len(frames)]

    return frame


@functools.lru_cache(maxsize=2)
def vtest_detections(fps: float = 2.0) -> tuple[tuple[Detections, ...], list[str]]:
    """What the shipped detector (NanoDet, the real model) sees in each sampled vtest frame, and its classes.
    Composited objects are not of a class rules ignore, so scenes built on vtest reuse these. Cached on disk
    under var/cache/footage/, keyed by the model file's hash (the first run takes ~5-10 s)."""
    from sentinel.detect.detectors import load_model_card, load_nanodet

    card_path = REPO_ROOT / "models" / "nanodet-g-416.yaml"
    card = load_model_card(card_path)
    digest = hashlib.sha256(card.model_path.read_bytes()).hexdigest()[:16]
    cache = CACHE_DIR / f"vtest_dets_{fps:g}fps_{digest}_v1.npz"
    if cache.is_file():
        data = np.load(cache)
        rows = np.split(data["rows"], data["ends"][:-1])
        dets = tuple(Detections(r[:, :4].copy(), r[:, 4].copy(), r[:, 5].astype(np.int32)) for r in rows)
        return dets, list(card.classes)
    detector = load_nanodet(card_path)
    dets = tuple(detector.detect(list(vtest_frames(fps))))
    rows = [np.column_stack([d.xyxy, d.score, d.class_id]).astype(np.float32) for d in dets]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, rows=np.concatenate(rows), ends=np.cumsum([len(r) for r in rows]))
    os.replace(tmp, cache)
    return dets, list(detector.class_names)


def vtest_dets(fps: float = 2.0) -> Callable[[float], Detections]:
    """Detections of the looped footage at media time t (pairs with `vtest(fps)`)."""
    dets, _ = vtest_detections(fps)

    def at(t: float) -> Detections:
        return dets[int(round(t * fps)) % len(dets)]

    return at


def times(duration: float, fps: float = 2.0, start: float = 0.0) -> Iterator[float]:
    n = int(round(duration * fps))
    return (start + i / fps for i in range(n))


# ---------------------------------------------------------------- objects composited in


def rubbish_patch(w: int, h: int, seed: int = 7) -> tuple[Frame, np.ndarray]:
    """A pile of rubbish: overlapping bags and scraps (dark plastic, white paper, a blue sack) with texture and
    soft shading; returns (BGR patch, alpha 0..1) — an irregular outline, not a rectangle."""
    rng = np.random.default_rng(seed)
    patch = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    # BGR: black bin bags, white paper, a blue sack, brown cardboard, grey plastic, a green bag
    colours = [(30, 30, 32), (225, 228, 226), (150, 95, 40), (60, 105, 145), (95, 95, 100), (45, 95, 45)]
    for i in range(14):
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.3, 0.8) * h
        ax, ay = rng.uniform(0.12, 0.3) * w, rng.uniform(0.12, 0.3) * h
        m = np.zeros((h, w), np.uint8)
        cv2.ellipse(m, (int(cx), int(cy)), (int(ax), int(ay)), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        patch[m > 0] = colours[i % len(colours)]
        alpha[m > 0] = 1.0
    patch *= np.linspace(1.15, 0.75, h, dtype=np.float32)[:, None, None]  # lit from above
    patch += rng.normal(0, 14, patch.shape).astype(np.float32)  # crumpled texture
    return np.clip(cv2.GaussianBlur(patch, (3, 3), 0), 0, 255), cv2.GaussianBlur(alpha, (5, 5), 0)


def paste(frame: Frame, patch: Frame, alpha: np.ndarray, x: int, y: int) -> Frame:
    out = frame.copy()
    h, w = alpha.shape
    roi = out[y : y + h, x : x + w].astype(np.float32)
    a = alpha[..., None]
    out[y : y + h, x : x + w] = np.clip(roi * (1 - a) + patch * a, 0, 255).astype(np.uint8)
    return out


def van_patch(w: int, h: int) -> tuple[Frame, np.ndarray]:
    """The white van parked in vtest (frame 0, top right), cut out with a soft-edged mask, scaled to w x h."""
    van = vtest_frames(2.0)[0][46:100, 652:721]
    mask = np.zeros(van.shape[:2], np.float32)
    cv2.rectangle(mask, (2, 2), (van.shape[1] - 3, van.shape[0] - 3), 1.0, -1)
    patch = cv2.resize(van, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    alpha = cv2.GaussianBlur(cv2.resize(mask, (w, h)), (5, 5), 0)
    return patch, alpha


@dataclass(frozen=True)
class Placed:
    """Something put down in the real footage at `t0` (and taken away at `t1`, if given): a rubbish pile
    (`kind="rubbish"`) or a parked van (`kind="van"`). `box` is where, in pixels (exact ground truth)."""

    box: Box
    t0: float
    t1: float = math.inf
    kind: str = "rubbish"
    fps: float = 2.0
    seed: int = 7

    def scene(self, base: Scene | None = None) -> Scene:
        base = base or vtest(self.fps)
        x1, y1, x2, y2 = self.box
        make = rubbish_patch if self.kind == "rubbish" else (lambda w, h, seed: van_patch(w, h))
        patch, alpha = make(x2 - x1, y2 - y1, self.seed)

        def frame(t: float) -> Frame:
            f = base(t)
            return paste(f, patch, alpha, x1, y1) if self.present(t) else f

        return frame

    def present(self, t: float) -> bool:
        return self.t0 <= t < self.t1

    def normalised(self, size: tuple[int, int] = (768, 576)) -> tuple[float, float, float, float]:
        w, h = size
        x1, y1, x2, y2 = self.box
        return (x1 / w, y1 / h, x2 / w, y2 / h)


# ---------------------------------------------------------------- structures, light, camera faults


def after(scene: Scene, t0: float, effect: Callable[[Frame, float], Frame]) -> Scene:
    """`scene` with `effect(frame, t)` applied from media time `t0` on."""

    def frame(t: float) -> Frame:
        f = scene(t)
        return effect(f, t) if t >= t0 else f

    return frame


def brick_wall(w: int, h: int) -> Frame:
    """Real facade texture for a new structure: the brick building (with its windows) from vtest's first frame."""
    building = vtest_frames(2.0)[0][8:100, 320:575]
    return cv2.resize(building, (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class Construction:
    """A structure (brick walls, a dark roof line) built up from the ground: none before `t0`, rising linearly
    to full height at `t1`, then left standing. `box` is the finished structure, in pixels."""

    box: Box
    t0: float
    t1: float
    fps: float = 1.0

    def height(self, t: float) -> float:
        """Share of the final height standing at media time t (exact ground truth)."""
        return float(np.clip((t - self.t0) / (self.t1 - self.t0), 0.0, 1.0))

    def scene(self, base: Scene | None = None) -> Scene:
        base = base or vtest(self.fps)
        x1, y1, x2, y2 = self.box
        wall = brick_wall(x2 - x1, y2 - y1)
        cv2.rectangle(wall, (0, 0), (x2 - x1 - 1, 6), (40, 40, 50), -1)  # roof edge
        cv2.rectangle(wall, (0, 0), (x2 - x1 - 1, y2 - y1 - 1), (30, 30, 35), 2)

        def frame(t: float) -> Frame:
            f = base(t)
            rows = int(round(self.height(t) * (y2 - y1)))
            if rows == 0:
                return f
            out = f.copy()
            out[y2 - rows : y2, x1:x2] = wall[-rows:]
            return out

        return frame


@functools.lru_cache(maxsize=4)
def _noise_bank(shape: tuple[int, ...], n: int = 5) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(1234)
    return tuple(rng.standard_normal(shape, dtype=np.float32) for _ in range(n))


def sensor_noise(shape: tuple[int, ...], sigma: float, seed: int) -> np.ndarray:
    """Gaussian sensor noise of `sigma` grey levels, different from frame to frame (`seed`), cheaply."""
    bank = _noise_bank(shape)
    return bank[seed % len(bank)] * sigma


def gain(frame: Frame, g: float, noise: float = 0.0, seed: int = 0) -> Frame:
    """Global exposure change (multiplicative), with optional sensor noise (grows as light fails)."""
    out = frame.astype(np.float32) * g
    if noise:
        out += sensor_noise(out.shape, noise, seed)
    return np.clip(out, 0, 255).astype(np.uint8)


def brightness_step(scene: Scene, t0: float, g: float) -> Scene:
    """Auto-exposure jump or a cloud: the whole picture `g` times brighter from t0 on."""
    return after(scene, t0, lambda f, t: gain(f, g))


def dusk(scene: Scene, t0: float, t1: float, final_gain: float = 0.3, noise: float = 3.0) -> Scene:
    """Dusk: light falls exponentially from 1 to `final_gain` between t0 and t1 (and stays), the picture
    turns blue-grey and noisier as the camera raises its gain."""
    tint = np.array([1.1, 1.0, 0.85], np.float32)

    def effect(f: Frame, t: float) -> Frame:
        k = float(np.clip((t - t0) / (t1 - t0), 0.0, 1.0))
        g = final_gain**k
        out = f.astype(np.float32) * g * (1.0 + k * (tint - 1.0))
        out += sensor_noise(out.shape, noise * k, int(t * 10))
        return np.clip(out, 0, 255).astype(np.uint8)

    return after(scene, t0, effect)


def covered(scene: Scene, t0: float) -> Scene:
    """Something is held over the lens: a dark, out-of-focus cloth lets only a faint blur of light through."""

    def effect(f: Frame, t: float) -> Frame:
        h, w = f.shape[:2]
        blur = cv2.resize(cv2.GaussianBlur(cv2.resize(f, (w // 16, h // 16)), (0, 0), 2.5), (w, h))
        cloth = np.full_like(f, (35, 40, 45))
        out = cv2.addWeighted(cloth, 0.85, blur, 0.15, 0.0)
        return gain(out, 1.0, noise=1.5, seed=int(t * 10))

    return after(scene, t0, effect)


def shifted(scene: Scene, t0: float, fraction: float = 0.05) -> Scene:
    """The camera is knocked: the view moves by `fraction` of its width to the left and half that up."""

    def effect(f: Frame, t: float) -> Frame:
        h, w = f.shape[:2]
        dx, dy = round(fraction * w), round(fraction * w / 2)  # whole pixels: no resampling blur
        m = np.array([[1, 0, -dx], [0, 1, -dy]], dtype=np.float32)
        return cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REFLECT)

    return after(scene, t0, effect)


def defocused(scene: Scene, t0: float, sigma: float = 3.0) -> Scene:
    """The lens is knocked out of focus (or misted): Gaussian blur of `sigma` pixels."""
    return after(scene, t0, lambda f, t: cv2.GaussianBlur(f, (0, 0), sigma))
