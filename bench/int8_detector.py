"""Is the INT8 NanoDet worth it? Speed and detection agreement of int8 vs the fp32 model.

    .venv/bin/python bench/int8_detector.py                          # the shipped int8 card vs fp32
    .venv/bin/python bench/int8_detector.py --int8 /tmp/a.onnx --int8 /tmp/b.onnx   # compare variants
    .venv/bin/python bench/int8_detector.py --rounds 7 --json out.json

Frames: `EVALUATION` of tools/quantize_nanodet.py (60 frames: vtest 720p at odd seconds, crowd_then_empty
768x576, 18 with people and 2 empty), none of them used for calibration.

Speed: every model runs through the detector (`NanoDetDetector`, 1 intra-op thread by default, the daemon's
setting), one frame per `detect` call. Each round runs every model over all frames, models in rotating order,
so a noisy neighbour hits all of them alike; the figure is the median over all frames and rounds of the
whole `detect` call (preprocess + ONNX Runtime + decode/NMS) and of the ONNX Runtime part alone. The
machine may be shared: the load average (`os.getloadavg()`) is printed before and after.

Agreement (first round; runs are deterministic): at the score threshold (default 0.35, the daemon's), the
int8 boxes are matched to the fp32 boxes of the same frame and class, greedily by int8 score, at IoU >= 0.5.
recall = matched / fp32 boxes (fp32 detections int8 still finds), precision = matched / int8 boxes, and the
mean |score difference| of the matched pairs; for class person and for all classes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sentinel.detect.detections import Detections  # noqa: E402
from sentinel.detect.detectors import load_detector  # noqa: E402
from sentinel.detect.detectors.nanodet import NanoDetDetector  # noqa: E402
from sentinel.detect.tracker import iou_matrix  # noqa: E402
from tools.quantize_nanodet import EVALUATION, FP32_CARD, INT8_CARD, fp32_card, frames  # noqa: E402

PERSON = 0


def match(ref: Detections, got: Detections, w: int, h: int, only_class: int | None, iou: float = 0.5
          ) -> tuple[int, int, list[float]]:  # fmt: skip
    """(reference boxes, candidate boxes, |score diffs| of matched pairs) for one frame. Greedy: candidates
    by descending score, each takes the unmatched reference box of its class with the highest IoU >= iou."""
    scale = np.array([w, h, w, h], dtype=np.float32)  # IoU in pixels, not in 0..1 of a non-square frame
    rs = np.ones(len(ref.score), bool) if only_class is None else ref.class_id == only_class
    gs = np.ones(len(got.score), bool) if only_class is None else got.class_id == only_class
    rb, rsc, rc = ref.xyxy[rs] * scale, ref.score[rs], ref.class_id[rs]
    gb, gsc, gc = got.xyxy[gs] * scale, got.score[gs], got.class_id[gs]
    diffs: list[float] = []
    if len(rb) and len(gb):
        ious = iou_matrix(gb, rb)
        ious[gc[:, None] != rc[None, :]] = 0.0
        taken = np.zeros(len(rb), bool)
        for i in np.argsort(-gsc, kind="stable"):
            cand = np.where(taken, -1.0, ious[i])
            j = int(np.argmax(cand))
            if cand[j] >= iou:
                taken[j] = True
                diffs.append(abs(float(gsc[i]) - float(rsc[j])))
    return len(rb), len(gb), diffs


def agreement(ref: list[Detections], got: list[Detections], sizes: list[tuple[int, int]],
              only_class: int | None) -> dict[str, Any]:  # fmt: skip
    n_ref = n_got = 0
    diffs: list[float] = []
    for r, g, (w, h) in zip(ref, got, sizes, strict=True):
        a, b, d = match(r, g, w, h, only_class)
        n_ref, n_got, diffs = n_ref + a, n_got + b, diffs + d
    return {
        "fp32_boxes": n_ref, "int8_boxes": n_got, "matched": len(diffs),
        "recall": len(diffs) / n_ref if n_ref else None,
        "precision": len(diffs) / n_got if n_got else None,
        "mean_abs_score_diff": float(np.mean(diffs)) if diffs else None,
    }  # fmt: skip


def build(path: Path, score: float, threads: int) -> NanoDetDetector:
    """A .yaml card through load_detector; a bare .onnx with the fp32 card's spec (for variants)."""
    if path.suffix in (".yaml", ".yml"):
        det = load_detector(path, score_threshold=score, intra_op_threads=threads)
        assert isinstance(det, NanoDetDetector)
        return det
    return NanoDetDetector(fp32_card(), path, score_threshold=score, intra_op_threads=threads)


def model_file(det: NanoDetDetector) -> Path:
    return Path(det.model_path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--int8",
        type=Path,
        action="append",
        help=f"int8 model card (.yaml) or bare .onnx; repeatable (default: {INT8_CARD.name})",
    )
    ap.add_argument("--fp32", type=Path, default=FP32_CARD, help="reference card (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=5, help="timing rounds over all frames (default 5)")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    ap.add_argument("--score", type=float, default=0.35, help="score threshold (default 0.35)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()  # fmt: skip
    int8_paths: list[Path] = args.int8 or [INT8_CARD]

    data = frames(EVALUATION)
    bgr = [f for _, _, f in data]
    sizes = [(f.shape[1], f.shape[0]) for f in bgr]
    print(f"frames: {len(bgr)} ({', '.join(f'{c} {len(t)}' for c, t in EVALUATION.items())}), none used for "
          f"calibration; {args.rounds} rounds, {args.threads} intra-op thread(s), score >= {args.score}")  # fmt: skip

    names = ["fp32", *(p.stem if p.suffix == ".onnx" else p.name for p in int8_paths)]
    dets = [build(args.fp32, args.score, args.threads)] + [
        build(p, args.score, args.threads) for p in int8_paths
    ]
    for name, det in zip(names, dets, strict=True):
        print(f"  {name:28s} {model_file(det)}  {model_file(det).stat().st_size / 1e6:6.2f} MB")

    for det in dets:  # warm-up
        det.detect(bgr[:3])
    total: list[list[float]] = [[] for _ in dets]
    infer: list[list[float]] = [[] for _ in dets]
    results: list[list[Detections]] = [[] for _ in dets]
    load0 = os.getloadavg()
    for r in range(args.rounds):
        order = [(k + r) % len(dets) for k in range(len(dets))]
        for k in order:
            det = dets[k]
            for f in bgr:
                t0 = time.perf_counter()
                out = det.detect([f])
                total[k].append(time.perf_counter() - t0)
                infer[k].append(det.last_timings["inference"])
                if r == 0:
                    results[k].append(out[0])
    load1 = os.getloadavg()
    print(f"load average: before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
          f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} ({os.cpu_count()} CPUs)")  # fmt: skip

    med = [1000 * statistics.median(t) for t in total]
    med_inf = [1000 * statistics.median(t) for t in infer]
    report: dict[str, Any] = {"frames": len(bgr), "rounds": args.rounds, "threads": args.threads,
                              "score_threshold": args.score, "loadavg": [load0, load1], "models": {}}  # fmt: skip
    print(f"\n{'model':28s} {'MB':>6s} {'ms/frame':>9s} {'(ORT)':>7s} {'speed-up':>8s}  "
          f"{'person R / P / |ds|':>22s}  {'all classes R / P / |ds|':>24s}  boxes fp32/int8 (person)")  # fmt: skip
    for k, (name, det) in enumerate(zip(names, dets, strict=True)):
        size = model_file(det).stat().st_size / 1e6
        entry: dict[str, Any] = {"file": str(model_file(det)), "mb": size, "ms_per_frame": med[k],
                                 "ms_inference": med_inf[k], "speedup": med[0] / med[k],
                                 "speedup_inference": med_inf[0] / med_inf[k]}  # fmt: skip
        line = f"{name:28s} {size:6.2f} {med[k]:9.1f} {med_inf[k]:7.1f} {med[0] / med[k]:7.2f}x"
        if k:
            person = agreement(results[0], results[k], sizes, PERSON)
            every = agreement(results[0], results[k], sizes, None)
            entry |= {"person": person, "all": every}

            def fmt(a: dict[str, Any]) -> str:
                vals = (a["recall"], a["precision"], a["mean_abs_score_diff"])
                return " / ".join("-" if v is None else f"{v:.3f}" for v in vals)

            line += f"  {fmt(person):>22s}  {fmt(every):>24s}  {every['fp32_boxes']}/{every['int8_boxes']}"
            line += f" ({person['fp32_boxes']}/{person['int8_boxes']})"
        report["models"][name] = entry
        print(line)
    print("\nspeed-up = fp32 median / this median (whole detect call; (ORT) = the ONNX Runtime run alone). "
          "R = recall of fp32 boxes, P = precision vs fp32, |ds| = mean |score difference|, IoU >= 0.5.")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
