"""ONNX Runtime sessions for detectors: thread settings, execution provider, and model metadata.

One session per loaded model serves every camera of a worker, so the threads are set here once: intra-op
threads as asked (workers default to one per core, so 1 keeps the total near the core count), one inter-op
thread, sequential execution. A provider that this onnxruntime build lacks is a `ModelError` at start, not
a silent fall-back to the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

from sentinel.detect.detectors.cards import ModelError

CPU = "CPUExecutionProvider"


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """How a detector's ONNX Runtime session runs."""

    intra_op_threads: int = 1
    providers: tuple[str, ...] = (CPU,)

    def __post_init__(self) -> None:
        if self.intra_op_threads < 1:
            raise ValueError(f"intra_op_threads must be >= 1, got {self.intra_op_threads}")
        if not self.providers:
            raise ValueError("at least one execution provider is needed")


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def check_providers(providers: Sequence[str]) -> None:
    available = ort.get_available_providers()
    missing = [p for p in providers if p not in available]
    if missing:
        raise ModelError(
            f"execution provider {missing[0]} is not in this onnxruntime build (available: {', '.join(available)})"
        )


def open_session(model_path: Path, settings: SessionSettings) -> Any:
    """An optimised, sequential ONNX Runtime session; ModelError if the file is unreadable."""
    check_providers(settings.providers)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = settings.intra_op_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_path), opts, providers=list(settings.providers))
    except Exception as e:  # onnxruntime raises its own (non-exported) exception types
        raise ModelError(f"model file unreadable: {model_path}: {one_line(str(e))}") from e


def read_metadata(model_path: Path) -> dict[str, str]:
    """The model's custom metadata map (the graph is not optimised: this only reads; ModelError if the
    file is unreadable)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(model_path), opts, providers=[CPU])
    except Exception as e:  # onnxruntime raises its own (non-exported) exception types
        raise ModelError(f"model file unreadable: {model_path}: {one_line(str(e))}") from e
    return dict(session.get_modelmeta().custom_metadata_map)
