"""Test footage: the OpenCV ``vtest.avi`` clip, transcoded to RTP-friendly H.264.

``vtest.avi`` (package ``opencv-doc``) shows pedestrians filmed from a fixed, elevated
camera: 768x576, 10 fps, 795 frames (79.5 s), MS-MPEG4v3.  :func:`vtest_h264` turns it
into H.264 (libx264, yuv420p, main profile, no B-frames, fixed GOP, no scene-cut
keyframes) in an MP4 under ``var/cache/footage/`` at the repository root.  Each
variant is transcoded once, keyed by its parameters, written atomically and guarded by a
file lock, so parallel or aborted runs never see a half-written file.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

import pytest

VTEST_AVI = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / "var" / "cache" / "footage"

#: Source clip properties (``ffprobe vtest.avi``).
VTEST_SIZE = (768, 576)
VTEST_FPS = 10
VTEST_DURATION_S = 79.5

# Bump when the ffmpeg recipe changes so stale cache entries are not reused.
_RECIPE_VERSION = 1

Fit = Literal["stretch", "pad"]


def vtest_path() -> Path:
    """Path of OpenCV's ``vtest.avi``; skips the calling test if ``opencv-doc`` is missing."""
    if not VTEST_AVI.is_file():
        pytest.skip(f"test footage {VTEST_AVI} not found: install the Debian package 'opencv-doc'")
    return VTEST_AVI


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.skip("ffmpeg not found on PATH: install the Debian package 'ffmpeg'")
    return exe


def vtest_h264(
    width: int = 1280,
    height: int = 720,
    fps: int = 25,
    gop: int = 50,
    *,
    fit: Fit = "stretch",
) -> Path:
    """H.264 MP4 of ``vtest.avi`` at ``width``x``height``, ``fps`` frames/s, one keyframe every ``gop``.

    ``fit="stretch"`` scales the whole 4:3 picture to the target size (normalized image
    coordinates are identical across variants; at 16:9 people look ~1.33x wider);
    ``fit="pad"`` keeps the aspect ratio and adds black bars.  The native-size variant is
    ``vtest_h264(768, 576)``.  Frame rate conversion duplicates frames (source is 10 fps).
    The first call transcodes (~10 s for 720p); later calls return the cached file.
    """
    if width % 2 or height % 2:
        raise ValueError(f"yuv420p needs even dimensions, got {width}x{height}")
    if fps <= 0 or gop <= 0:
        raise ValueError(f"fps and gop must be positive, got fps={fps} gop={gop}")
    if fit == "stretch":
        vf = f"fps={fps},scale={width}:{height}:flags=bicubic,setsar=1"
    elif fit == "pad":
        vf = (
            f"fps={fps},scale={width}:{height}:force_original_aspect_ratio=decrease:flags=bicubic,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1"
        )
    else:
        raise ValueError(f"unknown fit {fit!r}")
    args = [
        "-i", str(vtest_path()),
        "-an", "-sn", "-dn",
        "-vf", vf,
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
        "-bf", "0", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-crf", "23",
        "-movflags", "+faststart",
    ]  # fmt: skip
    return _encode_once(
        CACHE_DIR / f"vtest_{width}x{height}_{fps}fps_gop{gop}_{fit}_v{_RECIPE_VERSION}.mp4", args
    )


def _encode_once(target: Path, args: list[str]) -> Path:
    """`target` made once by `ffmpeg ARGS -f mp4 TMP` (the cache: a lock, since another test process may be
    encoding the same variant, and a rename, so a half-written file is never seen); later calls return it."""
    if target.is_file():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(target.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".mp4.tmp", dir=CACHE_DIR)
        os.close(fd)
        tmp = Path(tmp_name)
        cmd = [
            _ffmpeg(),
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            *args,
            "-f",
            "mp4",
            str(tmp),
        ]
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
            if proc.returncode != 0 or tmp.stat().st_size == 0:
                raise RuntimeError(
                    f"ffmpeg encode of {target.name} failed (exit {proc.returncode}):\n"
                    f"{' '.join(cmd)}\n{proc.stderr[-4000:]}"
                )
            tmp.chmod(0o644)  # mkstemp creates 0600
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return target


def crowd_then_empty(crowd_s: int = 20, empty_s: int = 40, fps: int = 25, gop: int = 25) -> Path:
    """Injected event with exact ground truth: `crowd_s` seconds of vtest (people in the plaza), then
    `empty_s` seconds of a flat grey view (the place is clear). H.264 768x576, cached like vtest_h264."""
    graph = (
        f"[0:v]trim=0:{crowd_s},setpts=PTS-STARTPTS,fps={fps},scale=768:576,setsar=1,format=yuv420p[a];"
        f"[1:v]format=yuv420p,setsar=1[b];[a][b]concat=n=2:v=1[v]"
    )
    args = [
        "-i", str(vtest_path()), "-f", "lavfi", "-i", f"color=c=gray:s=768x576:r={fps}:d={empty_s}",
        "-filter_complex", graph, "-map", "[v]",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-bf", "0", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
    ]  # fmt: skip
    return _encode_once(
        CACHE_DIR / f"crowd{crowd_s}_empty{empty_s}_{fps}fps_gop{gop}_v{_RECIPE_VERSION}.mp4", args
    )


def still_then_vtest(still_s: int = 40, moving_s: int = 20, fps: int = 10, gop: int = 10) -> Path:
    """A still view, then people walking: vtest's first picture held for `still_s` seconds (with fresh
    sensor noise every frame, as a real camera's), then the next `moving_s` seconds of vtest as filmed.
    H.264 768x576, one keyframe every `gop` frames, cached like vtest_h264."""
    vf = (
        f"trim=0:{moving_s},setpts=PTS-STARTPTS,fps={fps},tpad=start_duration={still_s}:start_mode=clone,"
        "noise=alls=4:allf=t,setsar=1,format=yuv420p"
    )
    args = [
        "-i", str(vtest_path()), "-an",
        "-vf", vf, "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-bf", "0", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
    ]  # fmt: skip
    return _encode_once(
        CACHE_DIR / f"still{still_s}_vtest{moving_s}_{fps}fps_gop{gop}_v{_RECIPE_VERSION}.mp4", args
    )
