"""The demo cameras' footage: one H.264 MP4 per camera (PyAV, libx264), built once from `scenes` and cached
under the demo's data dir (`footage/`). H.264 with a keyframe every second, so alert clips can be cut from it
(vtest.avi itself is MS-MPEG4, which the clip writer cannot copy).

Each clip is a `LOOP` seconds long and plays looped: its events start `FIRST_EVENT` s or more into the loop,
so the first alert comes after anyone following the README has had time to subscribe.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from sentinel.demo import scenes
from sentinel.demo.scenes import Footage, Scene

log = logging.getLogger(__name__)

RECIPE = 1  # bump when a scene changes: the cached clips are rebuilt
LOOP = 60.0  # seconds of each clip
FPS = 10  # vtest's own rate
FIRST_EVENT = 15.0


@dataclass(frozen=True)
class Clip:
    name: str
    what: str  # for the log and the README
    scene: Callable[[Footage], Scene]


def _plaza(f: Footage) -> Scene:
    # the people of 25 s and 50 s later join the plaza from 20 s to 48 s of the loop
    return scenes.crowd(f, offset=0.0, start=20.0, end=48.0, extra=(25.0, 50.0))


def _gate(f: Footage) -> Scene:
    # a passer-by of vtest's first frame stays at the gate 18-50 s (a vendor); fruit waste on the lawn 15-45 s
    street = scenes.vendor(f, offset=30.0, start=18.0, end=50.0, source=0.0, box=(245, 212, 290, 318))
    return scenes.dumped(street, start=15.0, end=45.0, at=(150, 500), size=(100, 62))


def _lane(f: Footage) -> Scene:
    return scenes.covered(lambda t: f.at(t, 50.0), start=22.0, end=47.0)


CLIPS = (
    Clip("plaza", "a crowd gathers at 20 s and disperses at 48 s", _plaza),
    Clip("gate", "fruit waste dumped 15-45 s, a vendor standing 18-50 s", _gate),
    Clip("lane", "the lens covered 22-47 s", _lane),
)


def footage_dir(data_dir: Path) -> Path:
    """Where the clips of this recipe live (demo.yaml names them `${SENTINEL_DEMO_FOOTAGE}/<name>.mp4`)."""
    return data_dir / "footage" / f"v{RECIPE}"


def clip_path(folder: Path, clip: Clip) -> Path:
    return folder / f"{clip.name}.mp4"


def build_footage(folder: Path, source: Path = scenes.VTEST) -> dict[str, Path]:
    """Every demo clip in `folder`, built if missing (once, ~20 s); name -> path. Raises FootageError."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {clip.name: clip_path(folder, clip) for clip in CLIPS}
    missing = [clip for clip in CLIPS if not paths[clip.name].is_file()]
    if not missing:
        return paths
    with open(folder / ".build.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another demo starting at the same moment builds them too
        missing = [clip for clip in missing if not paths[clip.name].is_file()]
        if missing:
            log.info("building the demo footage once from %s (%d clips)", source, len(missing))
            footage = Footage.load(source)
            for clip in missing:
                _encode(clip.scene(footage), paths[clip.name])
                log.info("demo footage %s: %s", paths[clip.name].name, clip.what)
    return paths


def _encode(scene: Scene, target: Path) -> None:
    """`LOOP` s of `scene` at `FPS` as H.264 (yuv420p, a keyframe every second, no B-frames), atomically."""
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp.mp4")
    rate = Fraction(FPS)
    try:
        with av.open(str(tmp), "w") as out:
            stream = out.add_stream(
                "libx264", rate=rate, options={"crf": "26", "preset": "ultrafast", "g": str(FPS), "bf": "0"}
            )
            first = scene(0.0)
            stream.height, stream.width = first.shape[:2]
            stream.pix_fmt = "yuv420p"
            for i in range(int(LOOP * FPS)):
                image = first if i == 0 else scene(i / FPS)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
                frame.pts, frame.time_base = i, 1 / rate
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
