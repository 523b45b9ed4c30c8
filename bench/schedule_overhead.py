"""What rule schedules and profiles cost per analysed frame: `CameraPipeline.analyse` over the same tracked
boxes (six people, box rules only, so the rules' own work is small and the schedule's share is at its
largest), for a camera whose five rules are unscheduled against the same camera with a schedule on every
rule (all armed: frames 0.1 s apart from a weekday noon) and a night profile. Alternating rounds in one
process; medians and their ratio (the machine is shared).

    .venv/bin/python bench/schedule_overhead.py [--frames 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from sentinel.config.models import CameraConfig  # noqa: E402
from sentinel.detect.detections import Detections  # noqa: E402
from sentinel.detect.settings import DetectorConfig  # noqa: E402
from sentinel.ingest.reader import Frame  # noqa: E402
from sentinel.pipeline import CameraPipeline  # noqa: E402

CLASSES = ["person", "bicycle", "car", "umbrella"]
T0 = 1_765_166_400.0  # Monday 2025-12-08 12:00 Asia/Shanghai: every rule armed for the whole run
WEEKDAYS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "07:00", "to": "22:00"}]


def camera(scheduled: bool) -> CameraConfig:
    rules: list[dict[str, object]] = [
        {"kind": "count_in_zone", "event_type": "crowd_gathering", "min_count": 10, "name": f"crowd{i}"}
        for i in range(3)
    ] + [
        {"kind": "dwell", "event_type": "road_vending", "classes": ["umbrella"], "name": "vending"},
        {"kind": "dwell", "event_type": "nonmotor_parking", "classes": ["bicycle"], "name": "bikes"},
    ]
    profiles: dict[str, object] = {}
    if scheduled:
        rules = [
            {**r, "schedule": WEEKDAYS + [{"from": "22:00", "to": "06:00", "days": ["sat"]}]} for r in rules
        ]
        profiles = {
            "night": {"schedule": [{"from": "19:00", "to": "07:00"}], "rules": {"crowd0": {"min_count": 8}}}
        }
    return CameraConfig.model_validate({"id": "cam", "source": "x.mp4", "rules": rules, "profiles": profiles})


def per_frame_us(pipe: CameraPipeline, frames: int, start: int) -> float:
    picture = np.zeros((90, 160, 3), np.uint8)
    xyxy = np.array([[0.1 * i, 0.5, 0.1 * i + 0.05, 0.8] for i in range(6)], np.float32)
    dets = Detections(xyxy, np.full(6, 0.9, np.float32), np.zeros(6, np.int32))
    began = time.perf_counter()
    for i in range(start, start + frames):
        pipe.analyse(Frame("cam", picture, T0 + 0.1 * i, True, i), dets)
    return (time.perf_counter() - began) / frames * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    pipes = {k: CameraPipeline.for_camera(camera(k), DetectorConfig(), CLASSES) for k in (False, True)}
    times: dict[bool, list[float]] = {False: [], True: []}
    for r in range(args.rounds):
        for k in (False, True) if r % 2 == 0 else (True, False):
            times[k].append(per_frame_us(pipes[k], args.frames, r * args.frames))
    plain, sched = statistics.median(times[False]), statistics.median(times[True])
    print(f"analyse, 5 box rules, unscheduled: median {plain:.1f} us/frame")
    print(f"analyse, same rules, scheduled (2 windows each) + 1 profile: median {sched:.1f} us/frame")
    print(f"ratio scheduled / unscheduled: {sched / plain:.3f}; schedule cost ~{sched - plain:.1f} us/frame")


if __name__ == "__main__":
    main()
