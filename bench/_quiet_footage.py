"""Quiet-street footage for `bench/cameras.py --footage quiet`: what most city cameras see most of the time.

vtest's empty scene (the per-pixel temporal median of its frames, `bench.scenarios.plate`) with sensor
noise different in each frame (`tests.support.scenes.sensor_noise`: a bank of 5 fields, in turn), and now and then one person cut out of vtest (`bench.scenarios.person_cutouts`,
scaled to the perspective) walking across the view along a row of the plaza, each time someone else, in
alternating directions. With the defaults: 120 s, a crossing of 12 s starting every 40 s (a person in view
30 % of the time), 1280x720 (stretched from 768x576 like `tests.support.footage.vtest_h264`), 25 fps, one
keyframe every 50 frames, no B-frames, libx264 `veryfast` CRF 23 (vtest_h264's recipe). Built once and
cached under var/cache/footage/ (written atomically, under a file lock).
"""

from __future__ import annotations

import fcntl
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tests.support.footage import CACHE_DIR
from tests.support.scenes import sensor_noise

RECIPE_VERSION = 2  # 2: one slice per picture (PyAV's default slice threads made two), like busy
W, H = 768, 576  # the plate's and the cut-outs' pixel frame (vtest's)


@dataclass(frozen=True)
class Quiet:
    seconds: int = 120
    every: float = 40.0  # a crossing starts every `every` s ...
    first: float = 6.0  # ... the first at this time
    crossing: float = 12.0  # ... and takes this long
    noise: float = 2.5  # sensor noise sigma, grey levels
    width: int = 1280
    height: int = 720
    fps: int = 25
    gop: int = 50

    def crossings(self) -> list[tuple[float, float, int]]:
        """(start, end, index) of each crossing."""
        out, t, k = [], self.first, 0
        while t < self.seconds:
            out.append((t, min(t + self.crossing, self.seconds), k))
            t, k = t + self.every, k + 1
        return out

    def person_at(self, t: float) -> bool:
        return any(a <= t < b for a, b, _ in self.crossings())

    def path(self) -> Path:
        return CACHE_DIR / (
            f"quiet_street_{self.seconds}s_every{self.every:g}_{self.width}x{self.height}_{self.fps}fps_"
            f"gop{self.gop}_n{self.noise:g}_v{RECIPE_VERSION}.mp4"
        )


def scene(q: Quiet) -> Callable[[float], np.ndarray]:
    """BGR 768x576 picture at media time t (before scaling and noise)."""
    from bench.scenarios import height_at, paste_at, person_cutouts, plate

    bg = plate()
    pool = person_cutouts()
    walks = []
    for a, b, k in q.crossings():
        feet = 330.0 + 40.0 * (k % 4)  # along the plaza, nearer or farther each time
        c = pool[(7 * k) % len(pool)]
        ch, cw = c.alpha.shape
        h = height_at(feet)
        person = c.scaled(max(2, round(cw * h / ch)), max(2, round(h)))
        x0, x1 = (-40.0, W + 40.0) if k % 2 == 0 else (W + 40.0, -40.0)
        walks.append((a, b, x0, x1, feet, person))

    def frame(t: float) -> np.ndarray:
        f = bg
        for a, b, x0, x1, feet, person in walks:
            if a <= t < b:
                u = (t - a) / (b - a)
                f = paste_at(
                    f, person, x0 + (x1 - x0) * u, feet + 1.5 * abs(math.sin(6.0 * t))
                )  # a step's bob
        return f

    return frame


def quiet_street(q: Quiet | None = None) -> Path:
    """The clip, built on first use (about a minute for the default on one core), then from the cache."""
    q = q or Quiet()
    target = q.path()
    if target.is_file():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(target.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another bench may be building it
        if target.is_file():
            return target
        tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp.mp4")
        try:
            _write(q, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return target


def _write(q: Quiet, path: Path) -> None:
    pic = scene(q)
    rate = Fraction(q.fps)
    options = {"preset": "veryfast", "crf": "23", "g": str(q.gop), "keyint_min": str(q.gop),
               "sc_threshold": "0", "bf": "0", "profile": "main"}  # fmt: skip
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = q.width, q.height, "yuv420p"
        stream.thread_type = "FRAME"  # PyAV asks for slice threads: x264 then cuts each picture in slices

        def big(f: np.ndarray) -> np.ndarray:
            return cv2.resize(f, (q.width, q.height), interpolation=cv2.INTER_CUBIC).astype(np.float32)

        still = big(pic(-1.0))  # the empty view, scaled once
        for i in range(q.seconds * q.fps):
            t = i / q.fps
            base = big(pic(t)) if q.person_at(t) else still
            img = base + sensor_noise(base.shape, q.noise, i)
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="bgr24")
            frame.pts, frame.time_base = i, 1 / rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
