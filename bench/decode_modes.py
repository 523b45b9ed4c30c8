"""Decode CPU per camera: `keyframes` vs `all` on 720p H.264 footage (25 fps, GOP 50, from vtest.avi).

Runs Sentinel's own reader (`StreamReader`) over the file as fast as it can, with the same analysis rate,
and divides the CPU time it used by the media time it covered: the share of one core a live camera of
this kind costs to decode. Prints medians of several runs and the ratio between the modes.

    .venv/bin/python bench/decode_modes.py [--runs 5] [--analyze-fps 0.5] [--seconds 60]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentinel.config.models import CameraConfig  # noqa: E402
from sentinel.ingest.reader import Frame, ReaderStatus, StreamReader  # noqa: E402
from tests.support.footage import vtest_h264  # noqa: E402


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def one_run(clip: Path, mode: str, analyze_fps: float, media_seconds: float) -> tuple[float, int, int]:
    """Returns (CPU s per media s, frames decoded, frames delivered)."""
    done = threading.Event()
    delivered: list[float] = []

    def on_frame(f: Frame) -> None:
        delivered.append(f.ts)
        if f.ts - delivered[0] >= media_seconds:
            done.set()

    def on_status(_: ReaderStatus) -> None:
        pass

    cam = CameraConfig.model_validate(
        {"id": "bench", "source": str(clip), "decode": mode, "analyze_fps": analyze_fps, "realtime": False}
    )
    reader = StreamReader(cam, on_frame, on_status)
    c0 = cpu_seconds()
    reader.start()
    done.wait(300)
    reader.stop()
    reader.join()
    used = cpu_seconds() - c0
    covered = delivered[-1] - delivered[0] if len(delivered) > 1 else media_seconds
    return used / covered, reader.status().frames_decoded, len(delivered)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--analyze-fps", type=float, default=0.5)
    ap.add_argument("--seconds", type=float, default=60.0, help="media seconds per run")
    args = ap.parse_args()
    clip = vtest_h264(1280, 720, fps=25, gop=50)
    print(
        f"footage: {clip.name}; analysis rate {args.analyze_fps} fps; {args.seconds:g} media s per run; {args.runs} runs"
    )
    results: dict[str, list[float]] = {}
    for mode in ("all", "keyframes"):
        runs = []
        for _ in range(args.runs):
            share, decoded, delivered = one_run(clip, mode, args.analyze_fps, args.seconds)
            runs.append(share)
        results[mode] = runs
        med = statistics.median(runs)
        print(
            f"{mode:>9}: median {med * 100:6.2f} % of one core per camera "
            f"(min {min(runs) * 100:.2f}, max {max(runs) * 100:.2f}); last run decoded {decoded} frames, "
            f"delivered {delivered}; ≈ {1 / med:5.1f} cameras per core for decode alone"
        )
    ratio = statistics.median(results["all"]) / statistics.median(results["keyframes"])
    print(f"ratio all/keyframes: {ratio:.1f}x less decode CPU with keyframes")


if __name__ == "__main__":
    main()
