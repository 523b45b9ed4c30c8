"""OCR cost of the `posted_text` rule, per changed region and per alert, against one detector inference in the
same run. Prints; asserts nothing.

    .venv/bin/python bench/ocr.py [--runs 20]

Scenes (tests.support.scenes_text, real vtest footage at 1 fps): a poster pasted on the facade, a banner above
the centre building's windows, and the same footage with nothing put up. For each, the rule runs over 100 s of
media; every OCR pass is timed (CPU time of this process and wall time), and so is the rest of the rule per
frame (the background model). The baseline is the shipped NanoDet model's `detect` on one vtest frame (1
thread), measured `--runs` times in the same process. Also timed: OCR of the whole zone on every frame, which
is what a rule that did not wait for a settled change would pay (timed on a frame with the text up).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sentinel.detect.detectors import load_nanodet  # noqa: E402
from sentinel.detect.rules.base import FrameContext, RuleEnv  # noqa: E402
from sentinel.detect.rules.posted_text import PostedText, PostedTextParams  # noqa: E402
from sentinel.detect.settings import Zone  # noqa: E402
from sentinel.detect.text_reader import TextReader  # noqa: E402
from sentinel.detect.zones import ZoneArea  # noqa: E402
from tests.support.scenes import T_BASE, Scene, times, vtest, vtest_detections, vtest_dets  # noqa: E402
from tests.support.scenes_text import CENTRE_BANNER, FACADE_POSTER, Posted  # noqa: E402

FACADE = Zone(name="facade", polygon=[(0.0, 0.0), (0.16, 0.0), (0.16, 0.31), (0.0, 0.31)])
CENTRE = Zone(name="centre-wall", polygon=[(0.42, 0.0), (0.76, 0.0), (0.76, 0.07), (0.42, 0.07)])
ZONE_PIXELS = {"facade": (0, 0, 123, 179), "centre-wall": (322, 0, 584, 41)}


class Timed:
    """Wraps a rule's reader: the CPU and wall seconds of each OCR pass."""

    def __init__(self, reader: TextReader) -> None:
        self.reader, self.cpu, self.wall = reader, [], []  # type: ignore[var-annotated]

    def read(self, *args: object) -> object:
        c, w = time.process_time(), time.perf_counter()
        out = self.reader.read(*args)  # type: ignore[arg-type]
        self.cpu.append(time.process_time() - c)
        self.wall.append(time.perf_counter() - w)
        return out


def median_ms(xs: list[float]) -> float:
    return 1e3 * statistics.median(xs) if xs else float("nan")


def cpu_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    out = []
    for _ in range(runs):
        c = time.process_time()
        fn()
        out.append(time.process_time() - c)
    return median_ms(out)


def run_scene(name: str, scene: Scene, zone: Zone, shape: str, classes: list[str]) -> dict[str, float]:
    params = PostedTextParams.model_validate(
        {"kind": "posted_text", "event_type": "e", "text_shape": shape, "min_duration": 30, "settle_time": 10,
         "learn_time": 600, "cooldown": 600}
    )  # fmt: skip
    rule = PostedText(params, ZoneArea(zone), RuleEnv("cam", classes))
    timed = Timed(rule.reader)
    rule.reader = timed  # type: ignore[assignment]
    dets = vtest_dets(2.0)
    frame_cpu, alerts = [], 0
    for t in times(100, 1.0):
        frame = scene(t)
        ocr_before = sum(timed.cpu)
        c = time.process_time()
        alerts += rule.evaluate(FrameContext("cam", T_BASE + t, dets(t), frame)) is not None
        frame_cpu.append(time.process_time() - c - (sum(timed.cpu) - ocr_before))
    return {
        "frames": len(frame_cpu),
        "ocr_passes": len(timed.cpu),
        "alerts": alerts,
        "ocr_cpu_ms_median": median_ms(timed.cpu),
        "ocr_wall_ms_median": median_ms(timed.wall),
        "ocr_cpu_ms_per_alert": 1e3 * sum(timed.cpu) / alerts if alerts else float("nan"),
        "rule_cpu_ms_per_frame_without_ocr": median_ms(frame_cpu),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    classes = vtest_detections(2.0)[1]
    frame = vtest(2.0)(10.0)
    detector = load_nanodet(ROOT / "models" / "nanodet-g-416.yaml", intra_op_threads=1)
    det_ms = cpu_ms(lambda: detector.detect([frame]), args.runs)
    print(f"baseline: NanoDet detect on one 768x576 vtest frame, 1 thread: {det_ms:.1f} ms CPU (median)")

    poster = Posted(("办证刻章", "快速办理"), FACADE_POSTER, t0=25.0)
    banner = Posted(
        ("严禁乱搭乱建共建美好家园",), CENTRE_BANNER, t0=25.0, sheet_size=(1300, 120), bg=(40, 40, 200),
        fg=(0, 230, 255),
    )  # fmt: skip
    scenes = [
        ("poster on the facade", poster.scene(), FACADE, "poster"),
        ("banner on the centre wall", banner.scene(), CENTRE, "banner"),
        ("nothing put up (facade zone)", vtest(2.0), FACADE, "poster"),
    ]
    print(f"{'scene':30} {'frames':>6} {'OCR':>4} {'alerts':>6} {'OCR ms/region':>13} {'x det':>6} "
          f"{'OCR ms/alert':>12} {'x det':>6} {'rule ms/frame':>13}")  # fmt: skip
    for name, scene, zone, shape in scenes:
        r = run_scene(name, scene, zone, shape, classes)
        per_alert = r["ocr_cpu_ms_per_alert"]
        print(
            f"{name:30} {r['frames']:6.0f} {r['ocr_passes']:4.0f} {r['alerts']:6.0f} "
            f"{r['ocr_cpu_ms_median']:13.1f} {r['ocr_cpu_ms_median'] / det_ms:6.2f} "
            f"{per_alert:12.1f} {per_alert / det_ms:6.2f} {r['rule_cpu_ms_per_frame_without_ocr']:13.2f}"
        )
    reader = TextReader()
    for (_, scene, zone, _), box in zip(scenes[:2], ZONE_PIXELS.values(), strict=True):
        posted = scene(60.0)  # with its text up: detection and recognition both run
        zone_name = zone.name
        every = cpu_ms(lambda box=box, posted=posted: reader.read(posted, box), args.runs)  # type: ignore[misc]
        print(
            f"OCR of the whole {zone_name} zone on every frame instead: {every:.1f} ms CPU a frame "
            f"({every / det_ms:.2f} x the detector), {every * 3600 / 1e3:.0f} s CPU per camera-hour at 1 fps"
        )
    print("(CPU time of this process; OCR: PP-OCRv4 det+rec, 1 thread, no angle classifier)")


if __name__ == "__main__":
    main()
