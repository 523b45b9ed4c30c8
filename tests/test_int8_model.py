"""The shipped INT8 NanoDet (models/nanodet-g-416-int8.yaml) finds the people the fp32 model finds.

Frames: OpenCV's vtest.avi (pedestrians, fixed elevated camera) at source frames the quantization never
calibrated on (tools/quantize_nanodet.py calibrates on frames 0, 20, 40, ... and 4, 44, 84, ... of the
same clip, as H.264). No timing here: bench/int8_detector.py measures speed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from sentinel.detect.detections import Detections
from sentinel.detect.detectors import load_detector, load_model_card
from sentinel.detect.detectors.cards import NanoDetCard
from tests.support.footage import vtest_path

REPO = Path(__file__).resolve().parents[1]
FP32_CARD = REPO / "models" / "nanodet-g-416.yaml"
INT8_CARD = REPO / "models" / "nanodet-g-416-int8.yaml"
FRAMES = [55, 155, 255, 355, 455, 555, 655, 755]  # vtest.avi frame indices (10 fps, 795 frames)
PERSON = 0


def vtest_frames(indices: list[int]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(vtest_path()))
    assert cap.isOpened()
    wanted, out, i = set(indices), {}, 0
    try:
        while i <= max(indices):
            ok, frame = cap.read()
            assert ok, f"vtest.avi ended at frame {i}"
            if i in wanted:
                out[i] = frame
            i += 1
    finally:
        cap.release()
    return [out[i] for i in indices]


def people(d: Detections, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    keep = d.class_id == PERSON
    return d.xyxy[keep] * np.array([w, h, w, h], dtype=np.float32), d.score[keep]


def matched(ref: np.ndarray, got: np.ndarray) -> int:
    """fp32 boxes (ref) with an int8 box at IoU >= 0.5, one int8 box per fp32 box."""
    free = list(range(len(got)))
    n = 0
    for r in ref:
        best, best_iou = -1, 0.5
        for j in free:
            g = got[j]
            iw = max(0.0, min(r[2], g[2]) - max(r[0], g[0]))
            ih = max(0.0, min(r[3], g[3]) - max(r[1], g[1]))
            inter = iw * ih
            union = (r[2] - r[0]) * (r[3] - r[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
            if union > 0 and inter / union >= best_iou:
                best, best_iou = j, inter / union
        if best >= 0:
            free.remove(best)
            n += 1
    return n


def test_int8_card_describes_its_model() -> None:
    card = load_model_card(INT8_CARD)
    fp32 = load_model_card(FP32_CARD)
    assert isinstance(card, NanoDetCard) and isinstance(fp32, NanoDetCard)
    assert card.model_path.name == "nanodet-g-416-int8.onnx"
    assert card.input == fp32.input and card.head == fp32.head and card.outputs == fp32.outputs
    assert card.classes == fp32.classes
    data = card.model_path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == card.provenance.onnx_sha256
    assert len(data) < 6_000_000, f"int8 model is {len(data)} bytes: too big to keep in git"


def test_int8_finds_the_people_fp32_finds() -> None:
    frames = vtest_frames(FRAMES)
    fp32 = load_detector(FP32_CARD, score_threshold=0.35)
    int8 = load_detector(INT8_CARD, score_threshold=0.35)
    total = hits = extra = 0
    for frame, ref, got in zip(frames, fp32.detect(frames), int8.detect(frames), strict=True):
        h, w = frame.shape[:2]
        ref_boxes, _ = people(ref, w, h)
        got_boxes, _ = people(got, w, h)
        m = matched(ref_boxes, got_boxes)
        total, hits, extra = total + len(ref_boxes), hits + m, extra + len(got_boxes) - m
    assert total >= 20, f"fp32 found only {total} people on {len(frames)} vtest frames: wrong frames?"
    recall = hits / total
    assert recall >= 0.8, f"int8 matched {hits} of {total} fp32 person boxes ({recall:.0%})"
    assert extra <= 0.2 * total, f"int8 found {extra} person boxes fp32 does not ({total} fp32 boxes)"
