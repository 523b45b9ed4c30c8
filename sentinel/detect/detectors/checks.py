"""Checks of a loaded ONNX graph against its card, with one-line `ModelError`s that name both files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from sentinel.detect.detectors.cards import ModelCardBase, ModelError


class TensorInfo(Protocol):
    """What onnxruntime's NodeArg offers."""

    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> list[Any]: ...


def mismatch(card: ModelCardBase, model_path: Path, what: str) -> ModelError:
    card_name = f" (card {card.source})" if card.source else ""
    return ModelError(f"model {model_path} does not match its card{card_name}: {what}")


def check_input(card: ModelCardBase, model_path: Path, inputs: list[TensorInfo]) -> None:
    """One input, named as the card says (if it does), of the card's shape (dynamic dims match anything)."""
    if len(inputs) != 1:
        raise mismatch(card, model_path, f"{len(inputs)} inputs, the card describes 1")
    inp = inputs[0]
    if card.input.name is not None and inp.name != card.input.name:
        raise mismatch(card, model_path, f"input is named {inp.name!r}, card says {card.input.name!r}")
    want = card.input.shape()
    got = list(inp.shape)
    if len(got) != len(want) or any(isinstance(g, int) and g != w for g, w in zip(got, want, strict=False)):
        raise mismatch(card, model_path, f"input shape {got}, card says {want} ({card.input.layout})")
    kind = getattr(inp, "type", "tensor(float)")
    if kind != "tensor(float)":
        raise mismatch(card, model_path, f"input type is {kind}, only float32 inputs are supported")
