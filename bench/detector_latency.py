"""Detector latency on this machine: the shipped NanoDet model on real photos. Prints; asserts nothing.

    .venv/bin/python bench/detector_latency.py [--runs 30] [--warmup 5] [--threads 1 2]

For each intra-op thread count and each frame (the 512x512 astronaut, and the astronaut resized to a
1280x720 frame) it runs `detect([frame])` `--runs` times after `--warmup` runs and prints the median and
p95 latency per frame, and what share of the time went to preprocessing (resize + normalise) and
postprocessing (decode + NMS) as measured by the detector itself.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from skimage import data

from sentinel.detect.detectors import load_nanodet
from sentinel.detect.detectors.nanodet import NanoDetDetector

CARD = Path(__file__).resolve().parents[1] / "models" / "nanodet-g-416.yaml"


def measure(detector: NanoDetDetector, frame: np.ndarray, runs: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        detector.detect([frame])
    total, pre, post = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        detector.detect([frame])
        total.append(time.perf_counter() - t0)
        pre.append(detector.last_timings["preprocess"])
        post.append(detector.last_timings["postprocess"])
    ms = np.asarray(total) * 1e3
    return {
        "median": float(np.median(ms)),
        "p95": float(np.percentile(ms, 95)),
        "pre_ms": float(np.median(pre) * 1e3),
        "post_ms": float(np.median(post) * 1e3),
        "pre_share": float(np.sum(pre) / np.sum(total)),
        "post_share": float(np.sum(post) / np.sum(total)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()

    astronaut = np.ascontiguousarray(data.astronaut()[..., ::-1])  # RGB -> BGR
    frames = {
        "astronaut 512x512": astronaut,
        "astronaut 1280x720": cv2.resize(astronaut, (1280, 720), interpolation=cv2.INTER_LINEAR),
    }
    print(
        f"onnxruntime {ort.__version__}, opencv {cv2.__version__}, numpy {np.__version__}, "
        f"{platform.processor() or platform.machine()}; {args.runs} runs after {args.warmup} warm-up"
    )
    header = f"{'threads':>7}  {'frame':<20} {'median ms':>9} {'p95 ms':>7} {'pre ms':>7} {'pre %':>6} {'post ms':>8} {'post %':>6}"
    print(header)
    print("-" * len(header))
    for threads in args.threads:
        detector = load_nanodet(CARD, intra_op_threads=threads)
        for name, frame in frames.items():
            r = measure(detector, frame, args.runs, args.warmup)
            print(
                f"{threads:>7}  {name:<20} {r['median']:>9.1f} {r['p95']:>7.1f} {r['pre_ms']:>7.2f} "
                f"{100 * r['pre_share']:>5.1f}% {r['post_ms']:>8.2f} {100 * r['post_share']:>5.1f}%"
            )


if __name__ == "__main__":
    main()
