"""Model cards: the YAML file next to each .onnx that says how to feed and decode it.

`load_model_card(path)` validates the card and checks that the model file it names exists;
`check_model_io` compares a loaded ONNX Runtime session with the card. Every failure is a `ModelError`
with a one-line message naming the file, e.g.
`model file not found: models/x.onnx (named by models/x.yaml)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


class ModelError(Exception):
    """A model or its card is missing, unreadable, invalid or does not match; the message is one line."""


class _Card(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Card):
    name: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    batch: int = Field(default=1, ge=1, description="the graph's fixed batch size")
    layout: Literal["NCHW", "NHWC"]
    colour_order: Literal["BGR", "RGB"]
    dtype: Literal["float32"] = "float32"
    mean: tuple[float, float, float] = Field(description="per channel, in `colour_order`, on 0..255")
    std: tuple[float, float, float]
    resize: Literal["letterbox", "stretch"] = Field(
        description="letterbox: keep the aspect ratio, centre, pad with pad_value; stretch: plain resize"
    )
    pad_value: int = Field(default=0, ge=0, le=255)

    @model_validator(mode="after")
    def _positive_std(self) -> Self:
        if min(self.std) <= 0:
            raise ValueError("std values must be > 0")
        return self


class HeadSpec(_Card):
    strides: list[int] = Field(min_length=1)
    reg_max: int = Field(ge=1, description="box sides are distributions over reg_max + 1 bins")
    centre_offset: float = Field(default=0.5, ge=0, le=1)
    scores: Literal["sigmoid"] = Field(description="activation already applied inside the graph")


class OutputPair(_Card):
    stride: int = Field(gt=0)
    scores: str
    boxes: str


class Licence(_Card):
    weights: str
    packaging: str | None = None


class Provenance(_Card):
    npm_package: str
    source_files: dict[str, str]
    conversion: str
    tools: dict[str, str]
    opset: int
    onnx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    notes: str | None = None


class ModelCard(_Card):
    name: str
    backend: Literal["nanodet"]
    file: str = Field(description="the .onnx file, relative to the card")
    architecture: str | None = None
    input: InputSpec
    head: HeadSpec
    outputs: list[OutputPair] = Field(min_length=1)
    classes: list[str] = Field(min_length=1)
    licence: Licence
    provenance: Provenance
    limits: str | None = None

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if [o.stride for o in self.outputs] != self.head.strides:
            raise ValueError("outputs must list one scores/boxes pair per head stride, in the same order")
        for s in self.head.strides:
            if self.input.width % s or self.input.height % s:
                raise ValueError(
                    f"input {self.input.width}x{self.input.height} is not divisible by stride {s}"
                )
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes must be unique")
        if Path(self.file).name != self.file:
            raise ValueError("file must be a plain file name next to the card")
        return self

    @property
    def source(self) -> Path | None:
        """The card file this was loaded from (None when built in code)."""
        return self._source

    @property
    def model_path(self) -> Path:
        """The .onnx file: `file`, next to the card (or relative to the working directory)."""
        return (self._source.parent if self._source else Path()) / self.file

    def cells(self, stride: int) -> int:
        return (self.input.width // stride) * (self.input.height // stride)

    def input_shape(self) -> list[int]:
        c, h, w = 3, self.input.height, self.input.width
        return [self.input.batch, c, h, w] if self.input.layout == "NCHW" else [self.input.batch, h, w, c]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_model_card(path: Path | str) -> ModelCard:
    """Read and validate a card; raise ModelError if it or the model file it names is missing or bad."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model card not found: {path}")
    try:
        raw: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as e:
        raise ModelError(f"model card unreadable: {path}: {_one_line(str(e))}") from e
    if not isinstance(raw, dict):
        raise ModelError(f"model card unreadable: {path}: expected a mapping at the top level")
    try:
        card = ModelCard.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ModelError(f"invalid model card {path}: {where}: {_one_line(first['msg'])}{more}") from e
    card._source = path
    if not card.model_path.is_file():
        raise ModelError(f"model file not found: {card.model_path} (named by {path})")
    return card


class _TensorInfo(Protocol):
    """What onnxruntime's NodeArg offers."""

    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> list[Any]: ...


def _mismatch(card: ModelCard, model_path: Path, what: str) -> ModelError:
    card_name = f" (card {card.source})" if card.source else ""
    return ModelError(f"model {model_path} does not match its card{card_name}: {what}")


def check_model_io(
    card: ModelCard, model_path: Path, inputs: list[_TensorInfo], outputs: list[_TensorInfo]
) -> None:
    """Compare the session's declared inputs/outputs with the card (dynamic dims match anything)."""
    if len(inputs) != 1:
        raise _mismatch(card, model_path, f"{len(inputs)} inputs, the card describes 1")
    inp = inputs[0]
    if inp.name != card.input.name:
        raise _mismatch(card, model_path, f"input is named {inp.name!r}, card says {card.input.name!r}")
    want = card.input_shape()
    got = list(inp.shape)
    if len(got) != len(want) or any(isinstance(g, int) and g != w for g, w in zip(got, want, strict=False)):
        raise _mismatch(card, model_path, f"input shape {got}, card says {want} ({card.input.layout})")
    expected = 2 * len(card.outputs)
    if len(outputs) != expected:
        raise _mismatch(card, model_path, f"{len(outputs)} outputs, card lists {expected}")
    names = {o.name for o in outputs}
    missing = [n for pair in card.outputs for n in (pair.scores, pair.boxes) if n not in names]
    if missing:
        raise _mismatch(card, model_path, f"no output named {missing[0]!r} (outputs: {sorted(names)})")


def check_output_shapes(card: ModelCard, model_path: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    """Compare the shapes of actual outputs (from a probe run) with what the card implies."""
    bins = 4 * (card.head.reg_max + 1)
    for pair in card.outputs:
        n = card.cells(pair.stride)
        for name, want in ((pair.scores, (1, n, len(card.classes))), (pair.boxes, (1, n, bins))):
            got = tuple(shapes[name])
            if got[1:] != want[1:]:
                raise _mismatch(
                    card,
                    model_path,
                    f"output {name!r} (stride {pair.stride}) has shape {list(got)}, "
                    f"card implies {list(want)}",
                )
