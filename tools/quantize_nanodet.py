"""Reproducibly build models/nanodet-g-416-int8.onnx: static INT8 quantization of the fp32 NanoDet-g-416.

    .venv/bin/python tools/quantize_nanodet.py                       # the shipped variant
    .venv/bin/python tools/quantize_nanodet.py --variant qdq-s8s8 --output /tmp/q.onnx   # another one
    .venv/bin/python tools/quantize_nanodet.py --list

Input: models/nanodet-g-416.onnx (tools/convert_nanodet.py). Only the project's own venv is needed
(onnxruntime.quantization, onnx, OpenCV, ffmpeg for the test footage).

Calibration data: a fixed set of frames (`CALIBRATION`, chosen by frame index, decoded sequentially with
OpenCV) from the test footage of tests/support/footage.py, `vtest_h264()` (720p, the footage
bench/cameras.py streams) and `crowd_then_empty()` (768x576: people, then an empty grey view), each
preprocessed by the detector's own `sentinel.detect.detectors.letterbox.Letterbox` for the fp32 card's input spec
(letterbox, BGR, mean/std) -- the exact tensors the detector feeds the model. `EVALUATION` is a disjoint set
of frames (no source frame of vtest.avi is in both) for bench/int8_detector.py.

Steps: optionally `quant_pre_process` (shape inference + ONNX Runtime graph optimisation, which folds the
TF-style Pad nodes into the convolutions), then `quantize_static` with MinMax calibration; the variants
(`VARIANTS`) differ in format (QDQ / QOperator), activation type, per-channel weights and whether the
three 1x1 head convolutions (class logits + box distributions) stay float. Prints the file size and
SHA-256, and writes the SHA-256 into the int8 model card's `onnx_sha256` if the card exists.

Determinism: calibration runs ONNX Runtime over the same tensors, so the ranges and the file bytes come out
the same on every run on the same machine and versions (checked: two runs, one SHA-256).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sentinel.detect.detectors import load_model_card  # noqa: E402
from sentinel.detect.detectors.cards import NanoDetCard  # noqa: E402
from sentinel.detect.detectors.letterbox import Letterbox  # noqa: E402

FP32_CARD = REPO / "models" / "nanodet-g-416.yaml"
FP32_MODEL = REPO / "models" / "nanodet-g-416.onnx"
INT8_MODEL = REPO / "models" / "nanodet-g-416-int8.onnx"
INT8_CARD = REPO / "models" / "nanodet-g-416-int8.yaml"

# Frames by clip and time (seconds). Both clips are cut from the 10 fps vtest.avi: vtest_h264() at 25 fps
# (t seconds = source frame 10 t), crowd_then_empty() at 25 fps whose first 20 s are vtest 0..20 s.
# Calibration: vtest at even seconds (source frames 0, 20, 40, ...), crowd at 0.4 + 4k s (4, 44, ...)
# and two empty grey frames. Evaluation: vtest at odd seconds (10, 30, ...), crowd at 0.7 + k s (7, 17,
# ...) and two other grey frames. No source frame is in both.
CALIBRATION: dict[str, list[float]] = {
    "vtest": [float(t) for t in range(0, 80, 2)],  # 40 frames, 1280x720
    "crowd": [0.4, 4.4, 8.4, 12.4, 16.4, 30.0, 50.0],  # 5 with people + 2 empty, 768x576
}
EVALUATION: dict[str, list[float]] = {
    "vtest": [float(t) for t in range(1, 80, 2)],  # 40 frames
    "crowd": [0.7 + k for k in range(18)] + [25.0, 45.0],  # 18 with people + 2 empty
}


def clip_path(clip: str) -> Path:
    from tests.support import footage

    if clip == "vtest":
        return footage.vtest_h264()
    if clip == "crowd":
        return footage.crowd_then_empty()
    raise ValueError(f"unknown clip {clip!r}")


def decode(path: Path, times: list[float]) -> list[np.ndarray]:
    """BGR frames of `path` at `times` (seconds; frame index = round(t * fps)), decoded sequentially (no
    seeking, so the same frames every time), in the order of `times`."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise RuntimeError(f"cannot open {path}")
    fps = cap.get(cv2.CAP_PROP_FPS)
    wanted = {round(t * fps): i for i, t in enumerate(times)}
    out: list[np.ndarray | None] = [None] * len(times)
    index = 0
    try:
        while wanted and index <= max(wanted):
            ok, frame = cap.read()
            if not ok:
                break
            if index in wanted:
                out[wanted.pop(index)] = frame
            index += 1
    finally:
        cap.release()
    missing = [times[i] for i, f in enumerate(out) if f is None]
    if missing:
        raise RuntimeError(f"{path}: no frames at t = {missing} s")
    return [f for f in out if f is not None]


def frames(spec: dict[str, list[float]]) -> list[tuple[str, float, np.ndarray]]:
    """(clip, t, BGR frame) for every entry of CALIBRATION / EVALUATION."""
    result = []
    for clip, times in spec.items():
        result.extend((clip, t, f) for t, f in zip(times, decode(clip_path(clip), times), strict=True))
    return result


def fp32_card() -> NanoDetCard:
    card = load_model_card(FP32_CARD)
    assert isinstance(card, NanoDetCard)
    return card


def input_tensors(bgr: list[np.ndarray], card: NanoDetCard) -> list[np.ndarray]:
    """The detector's own preprocessing (sentinel.detect.detectors.letterbox, as NanoDetDetector uses it)."""
    pre = Letterbox(card.input)
    tensors = []
    for frame in bgr:
        x = np.empty(card.input_shape(), dtype=np.float32)
        pre.preprocess_into(frame, x[0])
        tensors.append(x)
    return tensors


class Reader:
    """onnxruntime.quantization.CalibrationDataReader over fixed tensors (duck-typed)."""

    def __init__(self, input_name: str, tensors: list[np.ndarray]) -> None:
        self.input_name = input_name
        self.tensors = tensors
        self._it: Iterator[np.ndarray] = iter(tensors)

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self._it, None)
        return None if x is None else {self.input_name: x}

    def rewind(self) -> None:
        self._it = iter(self.tensors)


@dataclass(frozen=True)
class Variant:
    description: str
    fmt: str = "QDQ"  # or "QOperator"
    activations: str = "QUInt8"  # or "QInt8"
    per_channel: bool = True
    float_head: bool = False  # keep the three 1x1 head convolutions (and what follows them) in float
    pre_process: bool = True  # quant_pre_process first
    extra: dict[str, object] = field(default_factory=dict)


VARIANTS: dict[str, Variant] = {
    "qdq-u8s8-pc-fh": Variant("QDQ, uint8 activations, per-channel int8 weights, float head, pre-processed",
                              float_head=True),
    "qdq-u8s8-pc": Variant("QDQ, uint8 activations, per-channel int8 weights, pre-processed"),
    "qdq-s8s8-pc": Variant("QDQ, int8 activations, per-channel int8 weights, pre-processed", activations="QInt8"),
    "qdq-u8s8": Variant("QDQ, uint8 activations, per-tensor int8 weights, pre-processed", per_channel=False),
    "qdq-u8s8-pc-raw": Variant("QDQ, uint8 activations, per-channel int8 weights, no pre-processing",
                               pre_process=False),
    "qop-u8s8-pc": Variant("QOperator, uint8 activations, per-channel int8 weights, pre-processed",
                           fmt="QOperator"),
    "qop-u8s8-pc-fh": Variant("QOperator, uint8 activations, per-channel int8 weights, float head, pre-processed",
                              fmt="QOperator", float_head=True),
}  # fmt: skip
SHIPPED = "qdq-u8s8-pc-fh"


def head_nodes(model_path: Path) -> list[str]:
    """Names of the nodes from the last Conv before each graph output to that output (inclusive)."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    producer = {o: n for n in graph.node for o in n.output}
    names: list[str] = []
    for out in graph.output:
        stack = [out.name]
        while stack:
            node = producer.get(stack.pop())
            if node is None or node.name in names:
                continue
            names.append(node.name)
            if node.op_type != "Conv":
                stack.extend(i for i in node.input if i in producer)
    return sorted(names)


def nonfinite_pads(model_path: Path) -> list[str]:
    """Pad nodes with a non-finite constant (the -inf border TF's SAME max-pooling needs): a -inf range
    gives an infinite quantization scale (and NaNs downstream), so they and what they feed stay float."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model_path)).graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute:
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    names = []
    for node in graph.node:
        pad_value = consts.get(node.input[2]) if node.op_type == "Pad" and len(node.input) > 2 else None
        if pad_value is not None and not np.all(np.isfinite(pad_value)):
            names.append(node.name)
    return names


def quantize(variant: Variant, output: Path, tensors: list[np.ndarray], input_name: str) -> None:
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    ort.set_default_logger_severity(3)
    with tempfile.TemporaryDirectory(prefix="quantize-nanodet-") as tmp_name:
        src = Path(tmp_name) / "fp32.onnx"
        if variant.pre_process:
            quant_pre_process(str(FP32_MODEL), str(src), skip_symbolic_shape=True)  # needs sympy
        else:
            shutil.copyfile(FP32_MODEL, src)
        exclude = nonfinite_pads(src) + (head_nodes(src) if variant.float_head else [])
        # errstate: the quantizer still computes (unused) parameters for the excluded -inf Pad's output
        with np.errstate(divide="ignore", invalid="ignore"):
            quantize_static(
                str(src),
                str(output),
                Reader(input_name, tensors),  # type: ignore[arg-type]
                quant_format=QuantFormat.QDQ if variant.fmt == "QDQ" else QuantFormat.QOperator,
                per_channel=variant.per_channel,
                activation_type=QuantType[variant.activations],
                weight_type=QuantType.QInt8,
                nodes_to_exclude=exclude,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options=dict(variant.extra),
            )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def update_card(card: Path, digest: str) -> bool:
    text = card.read_text(encoding="utf-8")
    new, n = re.subn(r"(?m)^(\s*onnx_sha256:\s*)[0-9a-f]{64}\s*$", rf"\g<1>{digest}", text)
    if n != 1:
        return False
    if new != text:
        card.write_text(new, encoding="utf-8")
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", default=SHIPPED, choices=sorted(VARIANTS), help="default: %(default)s")
    ap.add_argument("--output", type=Path, default=INT8_MODEL, help="default: %(default)s")
    ap.add_argument("--list", action="store_true", help="list the variants and exit")
    args = ap.parse_args()
    if args.list:
        for name, v in VARIANTS.items():
            print(f"{name:18s} {v.description}{'  (shipped)' if name == SHIPPED else ''}")
        return 0

    card = fp32_card()
    calib = frames(CALIBRATION)
    print(f"calibration: {len(calib)} frames ({', '.join(f'{c} {len(t)}' for c, t in CALIBRATION.items())})",
          flush=True)  # fmt: skip
    tensors = input_tensors([f for _, _, f in calib], card)
    variant = VARIANTS[args.variant]
    output: Path = args.output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    print(f"quantizing: {args.variant}: {variant.description}", flush=True)
    quantize(variant, output, tensors, card.input.name or "input_1:0")

    import onnx
    import onnxruntime

    digest = sha256(output)
    print(f"versions: onnxruntime {onnxruntime.__version__}, onnx {onnx.__version__}, numpy {np.__version__}, "
          f"opencv {cv2.__version__}")  # fmt: skip
    print(f"wrote {output} ({output.stat().st_size} bytes; fp32 {FP32_MODEL.stat().st_size} bytes)")
    print(f"sha256 {digest}  {output.name}")
    if output == INT8_MODEL.resolve() and INT8_CARD.is_file():
        if update_card(INT8_CARD, digest):
            print(f"{INT8_CARD.name}: provenance.onnx_sha256 = {digest[:16]}...")
        else:
            print(f"{INT8_CARD.name}: no single onnx_sha256 line to update", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
