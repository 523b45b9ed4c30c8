"""Tiny ONNX graphs that stand in for detector exports: their outputs are fixed candidate tensors.

Built with the `onnx` package (float32, opset 13..17, IR version 8) so a test knows exactly what the
"network" returns and can check the decoding around it (layouts, letterbox undo, NMS, metadata).
The image input is always consumed: its batch size sets the output batch (the constants are tiled), and
`scores_follow_input` multiplies the scores by the mean of each input image, so what a frame contains
changes what the model says about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 8  # what opset 13..17 need; readable by any recent ONNX Runtime


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name=name + "_v"))


def _image_input(name: str, size: tuple[int, int], batch: int | None) -> onnx.ValueInfoProto:
    w, h = size
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch if batch else "batch", 3, h, w])


def _batch_nodes(input_name: str, rank: int) -> list[onnx.NodeProto]:
    """Nodes computing `reps` = [B, 1, ...] (length `rank`) from the input's batch size B."""
    return [
        helper.make_node("Shape", [input_name], ["in_shape"]),
        _const("zero", np.array([0], np.int64)),
        _const("one", np.array([1], np.int64)),
        helper.make_node("Slice", ["in_shape", "zero", "one"], ["batch_size"]),
        _const("ones", np.ones(rank - 1, np.int64)),
        helper.make_node("Concat", ["batch_size", "ones"], ["reps"], axis=0),
    ]


def _save(
    path: Path,
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    metadata: Mapping[str, str] | None,
    opset: int,
) -> Path:
    if not 13 <= opset <= 17:
        raise ValueError("opset 13..17 only")
    graph = helper.make_graph(nodes, "stand_in_detector", inputs, outputs)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION, producer_name="tests"
    )
    if metadata:
        helper.set_model_props(model, dict(metadata))
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def yolo_model(
    path: Path,
    rows: np.ndarray,
    *,
    layout: Literal["v5", "v8"],
    size: tuple[int, int] = (64, 64),
    batch: int | None = 1,
    metadata: Mapping[str, str] | None = None,
    scores_follow_input: bool = False,
    input_name: str = "images",
    output_name: str = "output0",
    opset: int = 17,
) -> Path:
    """A YOLO-style export whose one output holds `rows` for every image of the batch.

    `rows` is candidate-major `[N, K]`: cx, cy, w, h (model-input pixels), then for v5 objectness and C
    class scores (K = 5 + C), for v8 C class scores (K = 4 + C). The output is `[B, N, K]` for v5 and
    `[B, K, N]` (transposed) for v8. `size` is the input (width, height); `batch` None makes the batch
    dimension dynamic. With `scores_follow_input`, every score channel (objectness too) is multiplied by
    the mean of that image's input tensor.
    """
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] < 5:
        raise ValueError("rows must be [N, K] with K >= 5")
    if layout == "v8":
        box_part, score_part, axis = rows[:, :4].T[None], rows[:, 4:].T[None], 1
    else:
        box_part, score_part, axis = rows[:, :4][None], rows[:, 4:][None], 2
    nodes = [
        *_batch_nodes(input_name, 3),
        _const("box_part", np.ascontiguousarray(box_part)),
        _const("score_part", np.ascontiguousarray(score_part)),
        helper.make_node("Tile", ["box_part", "reps"], ["boxes_b"]),
        helper.make_node("Tile", ["score_part", "reps"], ["scores_b"]),
    ]
    scores = "scores_b"
    if scores_follow_input:
        nodes += [
            helper.make_node("ReduceMean", [input_name], ["image_mean"], axes=[1, 2, 3], keepdims=0),
            _const("col", np.array([-1, 1, 1], np.int64)),
            helper.make_node("Reshape", ["image_mean", "col"], ["image_mean3"]),
            helper.make_node("Mul", ["scores_b", "image_mean3"], ["scores_scaled"]),
        ]
        scores = "scores_scaled"
    nodes.append(helper.make_node("Concat", ["boxes_b", scores], [output_name], axis=axis))
    n, k = rows.shape
    b: int | str = batch if batch else "batch"
    out_shape = [b, n, k] if layout == "v5" else [b, k, n]
    return _save(
        path,
        nodes,
        [_image_input(input_name, size, batch)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_shape)],
        metadata,
        opset,
    )


def generic_model(
    path: Path,
    boxes: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    *,
    batched: bool = False,
    size: tuple[int, int] = (64, 64),
    batch: int | None = 1,
    names: tuple[str, str, str] = ("boxes", "scores", "classes"),
    metadata: Mapping[str, str] | None = None,
    input_name: str = "image",
    opset: int = 17,
) -> Path:
    """A boxes / scores / classes export (as if NMS were inside): outputs `boxes [N, 4]`, `scores [N]`,
    `classes [N]` (the dtype of `classes` as given), or with `batched` a leading batch dimension, tiled
    over the input's batch."""
    boxes = np.asarray(boxes, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    classes = np.asarray(classes)
    n = len(boxes)
    dtype = helper.np_dtype_to_tensor_dtype(classes.dtype)
    b: int | str = batch if batch else "batch"
    nodes: list[onnx.NodeProto] = []
    if batched:
        nodes += _batch_nodes(input_name, 3)
        nodes += [_const("reps2_tail", np.array([1], np.int64))]
        nodes += [helper.make_node("Concat", ["batch_size", "reps2_tail"], ["reps2"], axis=0)]
        for name, value, reps in zip(
            names, (boxes, scores, classes), ("reps", "reps2", "reps2"), strict=True
        ):
            nodes += [_const(name + "_c", value[None]), helper.make_node("Tile", [name + "_c", reps], [name])]
        shapes = ([b, n, 4], [b, len(scores)], [b, len(classes)])
    else:
        # The outputs ignore the image; its mean times zero keeps the input in the graph.
        nodes += [
            helper.make_node("ReduceMean", [input_name], ["image_mean"], axes=[0, 1, 2, 3], keepdims=0),
            _const("zero_f", np.array(0.0, np.float32)),
            helper.make_node("Mul", ["image_mean", "zero_f"], ["nothing"]),
            _const(names[0] + "_c", boxes),
            helper.make_node("Add", [names[0] + "_c", "nothing"], [names[0]]),
            _const(names[1] + "_c", scores),
            helper.make_node("Identity", [names[1] + "_c"], [names[1]]),
            _const(names[2] + "_c", classes),
            helper.make_node("Identity", [names[2] + "_c"], [names[2]]),
        ]
        shapes = ([n, 4], [len(scores)], [len(classes)])
    outputs = [
        helper.make_tensor_value_info(names[0], TensorProto.FLOAT, shapes[0]),
        helper.make_tensor_value_info(names[1], TensorProto.FLOAT, shapes[1]),
        helper.make_tensor_value_info(names[2], dtype, shapes[2]),
    ]
    return _save(path, nodes, [_image_input(input_name, size, batch)], outputs, metadata, opset)


def constant_output_model(
    path: Path,
    value: np.ndarray,
    *,
    size: tuple[int, int] = (64, 64),
    input_name: str = "image",
    output_name: str = "detections",
    opset: int = 17,
) -> Path:
    """One float32 output that is always `value` (any shape), for a detector kind with its own output
    layout; the image input (fixed batch 1) is consumed as its mean times zero."""
    value = np.asarray(value, dtype=np.float32)
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["image_mean"], axes=[0, 1, 2, 3], keepdims=0),
        _const("zero_f", np.array(0.0, np.float32)),
        helper.make_node("Mul", ["image_mean", "zero_f"], ["nothing"]),
        _const("value_c", value),
        helper.make_node("Add", ["value_c", "nothing"], [output_name]),
    ]
    output = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, list(value.shape))
    return _save(path, nodes, [_image_input(input_name, size, 1)], [output], None, opset)


def constant_outputs_model(
    path: Path,
    outputs: Mapping[str, np.ndarray],
    *,
    size: tuple[int, int] = (64, 64),
    input_name: str = "image",
    opset: int = 17,
) -> Path:
    """Several float32 outputs, each always its value (any shape), e.g. the output names of a shipped card
    with the wrong shapes; the image input (fixed batch 1) is consumed as its mean times zero."""
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["image_mean"], axes=[0, 1, 2, 3], keepdims=0),
        _const("zero_f", np.array(0.0, np.float32)),
        helper.make_node("Mul", ["image_mean", "zero_f"], ["nothing"]),
    ]
    infos = []
    for k, (name, raw) in enumerate(outputs.items()):
        value = np.asarray(raw, dtype=np.float32)
        nodes += [_const(f"value_{k}", value), helper.make_node("Add", [f"value_{k}", "nothing"], [name])]
        infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    return _save(path, nodes, [_image_input(input_name, size, 1)], infos, None, opset)
