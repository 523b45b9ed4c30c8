"""The baseline `bench/cameras.py` compares Sentinel with: what a plain script would do.

One thread per camera reads and decodes every frame with `cv2.VideoCapture(url, cv2.CAP_FFMPEG)` (RTSP over
TCP) and keeps the latest; the main thread runs the same detector as the daemon (`load_detector`, same model
card, threshold and ONNX Runtime threads) on each camera's latest frame at the analysis rate, all frames due
at one moment in one `detect()` call. No tracker, rules, store or MQTT: the baseline is the bare minimum.

Run by `bench/cameras.py` as a child process (it measures the CPU and memory from outside):

    python bench/_baseline.py --fps 0.5 --model models/nanodet-g-416.yaml --threads 1 URL [URL ...]

It prints `READY` once every camera has delivered a frame (or `READY partial` after `--ready-timeout`),
then answers each `mark` line on stdin with one JSON line of running counters per camera
(frames read, frames analysed, reopens) and the detector time; it exits on `quit` or end of input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")  # like the daemon's default

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentinel.detect.detectors import load_detector  # noqa: E402


class Camera(threading.Thread):
    def __init__(self, index: int, url: str, stop: threading.Event) -> None:
        super().__init__(name=f"cam{index}", daemon=True)
        self.url = url
        self.stop = stop
        self.lock = threading.Lock()
        self.latest: np.ndarray | None = None
        self.fresh = False  # latest not analysed yet
        self.read = 0
        self.reopens = 0

    def run(self) -> None:
        while not self.stop.is_set():
            cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG)
            while not self.stop.is_set() and cap.isOpened():
                ok, frame = cap.read()
                if not ok:
                    break
                with self.lock:
                    self.latest, self.fresh = frame, True
                self.read += 1
            cap.release()
            if not self.stop.is_set():
                self.reopens += 1
                self.stop.wait(1.0)

    def take(self) -> np.ndarray | None:
        with self.lock:
            if not self.fresh:
                return None
            self.fresh = False
            return self.latest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("urls", nargs="+")
    ap.add_argument("--fps", type=float, default=0.5)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--score", type=float, default=0.35)
    ap.add_argument("--nms", type=float, default=0.6)
    ap.add_argument("--ready-timeout", type=float, default=60.0)
    args = ap.parse_args()

    detector = load_detector(
        args.model, score_threshold=args.score, nms_iou=args.nms, intra_op_threads=args.threads
    )
    stop = threading.Event()
    cams = [Camera(i, url, stop) for i, url in enumerate(args.urls)]
    for cam in cams:
        cam.start()
    analysed = [0] * len(cams)
    detect_s = [0.0]
    out_lock = threading.Lock()

    def say(line: str) -> None:
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def commands() -> None:
        for line in sys.stdin:
            if line.strip() == "mark":
                say(json.dumps({
                    "t": time.time(), "read": [c.read for c in cams], "analysed": list(analysed),
                    "reopens": [c.reopens for c in cams], "detect_s": detect_s[0],
                }))  # fmt: skip
            elif line.strip() == "quit":
                break
        stop.set()

    threading.Thread(target=commands, name="commands", daemon=True).start()
    deadline = time.monotonic() + args.ready_timeout
    while not stop.is_set() and any(c.read == 0 for c in cams) and time.monotonic() < deadline:
        time.sleep(0.1)
    say("READY" if all(c.read for c in cams) else "READY partial")

    interval = 1.0 / args.fps
    start = time.monotonic()
    due = [start + interval * i / len(cams) for i in range(len(cams))]  # spread, like unsynchronised cameras
    while not stop.is_set():
        now = time.monotonic()
        ready = [i for i in range(len(cams)) if now >= due[i]]
        if not ready:
            stop.wait(min(0.05, max(0.0, min(due) - now)))
            continue
        frames, which = [], []
        for i in ready:
            due[i] = due[i] + interval if now - due[i] < interval else now + interval
            frame = cams[i].take()
            if frame is not None:
                frames.append(frame)
                which.append(i)
        if frames:
            t0 = time.perf_counter()
            detector.detect(frames)
            detect_s[0] += time.perf_counter() - t0
            for i in which:
                analysed[i] += 1
    for cam in cams:
        cam.join(timeout=5)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
