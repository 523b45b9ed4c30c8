"""Worked example: a new detector kind, added from outside Sentinel through the public registry.

The kind "rows" reads one output `[N, 6]`: per box centre x, centre y, width, height (0..1 of the model
input), score and class index. All it writes is its card (what the YAML may say) and its output decoding;
session, input check, letterbox, batching and NMS come from `OnnxDetector`. docs/architecture.md cites this.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from skimage import data

from sentinel.detect.detectors import (
    ModelError,
    OnnxDetector,
    backend_names,
    load_detector,
    register_backend,
    unregister_backend,
)
from sentinel.detect.detectors.cards import ExportProvenance, ModelCardBase, OnnxInputSpec
from sentinel.detect.detectors.postprocess import Candidates
from tests.support.onnx_models import constant_output_model


class RowsCard(ModelCardBase):
    backend: Literal["rows"]
    input: OnnxInputSpec
    output: str
    provenance: ExportProvenance


class RowsDetector(OnnxDetector):
    card_type = RowsCard
    card: RowsCard

    def _select_outputs(self, available: list[str]) -> list[str]:
        if self.card.output not in available:
            raise self._missing_output(self.card.output, available)
        return [self.card.output]

    def _check_outputs(self, shapes: list[tuple[int, ...]], batch: int) -> bool:
        (shape,) = shapes
        if len(shape) != 2 or shape[1] != 6:
            raise self._mismatch(
                f"output {self.card.output!r} has shape {list(shape)}, a rows card expects [N, 6]"
            )
        return False  # no batch dimension: one frame per run

    def _candidates(self, outs: list[np.ndarray], row: int) -> Candidates:
        rows = outs[0][outs[0][:, 4] > self.score_threshold]
        w, h = self.card.input.width, self.card.input.height
        cx, cy, bw, bh = rows[:, 0] * w, rows[:, 1] * h, rows[:, 2] * w, rows[:, 3] * h
        xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
        return Candidates(xyxy, rows[:, 4].astype(np.float32), rows[:, 5].astype(np.int32))


ROWS = np.array(
    [
        [0.5, 0.5, 0.25, 0.5, 0.9, 1],  # helmet, in the middle
        [0.51, 0.5, 0.25, 0.5, 0.8, 1],  # the same helmet again: NMS removes it
        [0.2, 0.2, 0.1, 0.1, 0.1, 0],  # below the threshold
    ],
    np.float32,
)


@pytest.fixture
def rows_backend() -> Iterator[None]:
    register_backend("rows", RowsDetector)
    yield
    unregister_backend("rows")


def rows_card(tmp_path: Path, rows: np.ndarray = ROWS) -> Path:
    model = constant_output_model(tmp_path / "rows.onnx", rows, output_name="detections")
    card = tmp_path / "rows.yaml"
    card.write_text(
        "name: helmet-rows\nbackend: rows\nfile: rows.onnx\n"
        "input: {width: 64, height: 64}\noutput: detections\nclasses: [person, helmet]\n"
        "licence: {weights: test fixture}\nprovenance: {source: tests/test_detector_plugin.py}\n",
        encoding="utf-8",
    )
    assert model.is_file()
    return card


@pytest.mark.usefixtures("rows_backend")
def test_a_registered_kind_loads_from_its_card_and_runs_on_a_real_frame(tmp_path: Path) -> None:
    assert "rows" in backend_names()
    det = load_detector(rows_card(tmp_path), score_threshold=0.5)
    assert isinstance(det, RowsDetector) and det.class_names == ["person", "helmet"]
    frame = np.ascontiguousarray(data.astronaut()[..., ::-1])  # 512x512 BGR: scaled 1/8 into the 64 input
    (out,) = det.detect([frame])
    assert out.class_id.tolist() == [1]
    np.testing.assert_allclose(out.score, [0.9], rtol=1e-6)
    np.testing.assert_allclose(out.xyxy[0], [0.375, 0.25, 0.625, 0.75], atol=1e-6)


@pytest.mark.usefixtures("rows_backend")
def test_the_base_checks_apply_to_a_new_kind(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"has shape \[3, 5\], a rows card expects \[N, 6\]"):
        load_detector(rows_card(tmp_path, ROWS[:, :5]))


def test_unregistered_kind_is_an_unknown_backend(tmp_path: Path) -> None:
    assert "rows" not in backend_names()
    with pytest.raises(ModelError, match="unknown detector backend 'rows'"):
        load_detector(rows_card(tmp_path))


def test_register_refuses_a_name_its_card_does_not_admit() -> None:
    with pytest.raises(ValueError, match="admits \\['rows'\\], not 'boxes'"):
        register_backend("boxes", RowsDetector)
    assert "boxes" not in backend_names()
