"""Model cards: the YAML file next to each .onnx that says how to feed and decode it.

A card's `backend` picks its format (a pydantic discriminated union, each member `extra="forbid"`):

* `nanodet` (`NanoDetCard`): the shipped default, `models/nanodet-g-416.yaml`; every input field explicit.
* `yolov5`, `yolov8`, `yolov11` (`YoloCard`): Ultralytics-style exports. v5 has one output
  `[batch, N, 5 + classes]` (cx, cy, w, h, objectness, class scores); v8 and v11 share the layout
  `[batch, 4 + classes, N]` (cx, cy, w, h, class scores). The input defaults are Ultralytics' own
  (NCHW, RGB, /255, centred letterbox padded with 114 grey), so a card can be as short as::

      name: yolov8n-coco
      backend: yolov8
      file: yolov8n.onnx
      input: {width: 640, height: 640}
      licence: {weights: AGPL-3.0 (Ultralytics)}
      provenance: {source: "ultralytics 8.3 `yolo export model=yolov8n.pt format=onnx opset=17`"}

  `classes` may be omitted: the list then comes from the ONNX metadata `names` that Ultralytics writes
  (a Python dict literal such as "{0: 'person', 1: 'bicycle'}").
* `generic` (`GenericCard`): any graph with separate boxes / scores / class-id outputs, e.g. one with NMS
  inside::

      name: my-detector
      backend: generic
      file: my-detector.onnx
      input: {width: 640, height: 640}
      outputs:
        boxes: boxes        # [N, 4] or [batch, N, 4], x1 y1 x2 y2 on the model input
        scores: scores      # [N] or [batch, N]
        classes: labels     # [N] or [batch, N], class index (integer or float)
        box_units: pixels   # or `normalised`: 0..1 of the model input's width / height
      classes: [person, car]
      licence: {weights: Apache-2.0}
      provenance: {source: https://example.org/my-detector}

`load_model_card(path)` validates the card, checks that the model file it names exists and (unless told
not to) fills in the classes from the model's metadata when the card has none. Every failure is a
`ModelError` with a one-line message naming the file, e.g.
`model file not found: models/x.onnx (named by models/x.yaml)`.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Self, TypeAlias, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


class ModelError(Exception):
    """A model or its card is missing, unreadable, invalid or does not match; the message is one line."""


class _Card(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- inputs


class InputBase(_Card):
    """How frames become the model input; what `sentinel.detect.letterbox.Letterbox` needs."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    batch: int = Field(default=1, ge=1, description="the graph's fixed batch size (any, if it is dynamic)")
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

    def shape(self) -> list[int]:
        c, h, w = 3, self.height, self.width
        return [self.batch, c, h, w] if self.layout == "NCHW" else [self.batch, h, w, c]


class InputSpec(InputBase):
    """NanoDet cards spell everything out."""

    name: str


class OnnxInputSpec(InputBase):
    """YOLO and generic cards: Ultralytics' preprocessing unless the card says otherwise."""

    name: str | None = Field(default=None, description="the graph input; default: its only input")
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    colour_order: Literal["BGR", "RGB"] = "RGB"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (255.0, 255.0, 255.0)
    resize: Literal["letterbox", "stretch"] = "letterbox"
    pad_value: int = Field(default=114, ge=0, le=255)


# ---------------------------------------------------------------- NanoDet parts


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
    """Provenance of the shipped NanoDet conversion."""

    npm_package: str
    source_files: dict[str, str]
    conversion: str
    tools: dict[str, str]
    opset: int
    onnx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    notes: str | None = None


class ExportProvenance(_Card):
    """Provenance of a model a user brings: where the weights come from and how the ONNX was made."""

    source: str = Field(description="where the weights / the export come from (URL, command, vendor)")
    exporter: str | None = None
    opset: int | None = None
    onnx_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    notes: str | None = None


# ---------------------------------------------------------------- cards


class _CardBase(_Card):
    name: str
    file: str = Field(description="the .onnx file, relative to the card")
    architecture: str | None = None
    classes: list[str]
    licence: Licence
    limits: str | None = None

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _common(self) -> Self:
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


class NanoDetCard(_CardBase):
    backend: Literal["nanodet"]
    input: InputSpec
    head: HeadSpec
    outputs: list[OutputPair] = Field(min_length=1)
    classes: list[str] = Field(min_length=1)
    provenance: Provenance

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if [o.stride for o in self.outputs] != self.head.strides:
            raise ValueError("outputs must list one scores/boxes pair per head stride, in the same order")
        for s in self.head.strides:
            if self.input.width % s or self.input.height % s:
                raise ValueError(
                    f"input {self.input.width}x{self.input.height} is not divisible by stride {s}"
                )
        return self

    def cells(self, stride: int) -> int:
        return (self.input.width // stride) * (self.input.height // stride)

    def input_shape(self) -> list[int]:
        return self.input.shape()


class YoloCard(_CardBase):
    backend: Literal["yolov5", "yolov8", "yolov11"]
    input: OnnxInputSpec
    output: str | None = Field(default=None, description="the predictions output; default: the first")
    classes: list[str] = Field(default_factory=list, description="empty: from the ONNX metadata `names`")
    provenance: ExportProvenance

    @property
    def layout(self) -> Literal["v5", "v8"]:
        """v5: [batch, N, 5 + classes] with objectness; v8 (also v11): [batch, 4 + classes, N]."""
        return "v5" if self.backend == "yolov5" else "v8"


class GenericOutputs(_Card):
    boxes: str = Field(description="[N, 4] or [batch, N, 4]: x1, y1, x2, y2 on the model input")
    scores: str = Field(description="[N] or [batch, N]")
    classes: str = Field(description="[N] or [batch, N]: class index into the card's classes")
    box_units: Literal["pixels", "normalised"] = Field(
        description="pixels of the model input, or 0..1 of the model input's width / height"
    )

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if len({self.boxes, self.scores, self.classes}) != 3:
            raise ValueError("boxes, scores and classes must be three different outputs")
        return self


class GenericCard(_CardBase):
    backend: Literal["generic"]
    input: OnnxInputSpec
    outputs: GenericOutputs
    classes: list[str] = Field(default_factory=list, description="empty: from the ONNX metadata `names`")
    provenance: ExportProvenance


ModelCard: TypeAlias = Annotated[NanoDetCard | YoloCard | GenericCard, Field(discriminator="backend")]
_CARD_ADAPTER: TypeAdapter[NanoDetCard | YoloCard | GenericCard] = TypeAdapter(ModelCard)

#: every `backend` a card may name
BACKENDS: tuple[str, ...] = tuple(
    name
    for card_type in (NanoDetCard, YoloCard, GenericCard)
    for name in get_args(card_type.model_fields["backend"].annotation)
)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# ---------------------------------------------------------------- class names from ONNX metadata


def parse_class_names(text: str) -> list[str]:
    """Class names from an ONNX metadata `names` value: a Python literal (Ultralytics writes a dict
    "{0: 'person', 1: 'bicycle'}"; a list is accepted too), parsed with `ast.literal_eval` only.

    Raises ValueError unless it is a non-empty list of unique strings, or a dict of them keyed 0..n-1."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        raise ValueError(f"not a Python literal ({type(e).__name__})") from None
    if isinstance(value, dict):
        keys = sorted(value) if all(isinstance(k, int) and not isinstance(k, bool) for k in value) else None
        if keys != list(range(len(value))):
            raise ValueError("a dict of names must be keyed 0..n-1")
        names = [value[k] for k in keys]
    elif isinstance(value, list | tuple):
        names = list(value)
    else:
        raise ValueError(f"expected a dict or list, got {type(value).__name__}")
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError("expected a non-empty list of non-empty strings")
    if len(set(names)) != len(names):
        raise ValueError("names must be unique")
    return names


_C = TypeVar("_C", bound=_CardBase)


def class_names_from_metadata(metadata: Mapping[str, str], model_path: Path) -> list[str] | None:
    """The `names` entry of the model's custom metadata, parsed; None if there is none."""
    text = metadata.get("names")
    if text is None:
        return None
    try:
        return parse_class_names(text)
    except ValueError as e:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ModelError(f"model {model_path} has unusable metadata names {shown!r}: {e}") from None


def with_classes(card: _C, model_path: Path, metadata: Mapping[str, str]) -> _C:
    """The card itself if it lists classes, else a copy with the classes from the model's metadata."""
    if card.classes:
        return card
    names = class_names_from_metadata(metadata, model_path)
    if names is None:
        named = f" {card.source}" if card.source else ""
        raise ModelError(
            f"model card{named} lists no classes and model {model_path} has no 'names' metadata: "
            "add `classes:` to the card"
        )
    resolved = card.model_copy(update={"classes": names})
    resolved._source = card.source
    return resolved


def read_metadata(model_path: Path) -> dict[str, str]:
    """The model's custom metadata map (via ONNX Runtime; raises ModelError if the file is unreadable)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own (non-exported) exception types
        raise ModelError(f"model file unreadable: {model_path}: {_one_line(str(e))}") from e
    return dict(session.get_modelmeta().custom_metadata_map)


# ---------------------------------------------------------------- loading


def load_model_card(
    path: Path | str, *, resolve_classes: bool = True
) -> NanoDetCard | YoloCard | GenericCard:
    """Read and validate a card; raise ModelError if it or the model file it names is missing or bad.

    With `resolve_classes` (the default) a card without `classes` gets them from the model's metadata
    (this opens the model); detectors pass False and resolve them from their own session."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model card not found: {path}")
    try:
        raw: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as e:
        raise ModelError(f"model card unreadable: {path}: {_one_line(str(e))}") from e
    if not isinstance(raw, dict):
        raise ModelError(f"model card unreadable: {path}: expected a mapping at the top level")
    backend = raw.get("backend")
    known = ", ".join(BACKENDS)
    if backend is None:
        raise ModelError(f"invalid model card {path}: backend: missing (one of {known})")
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ModelError(f"unknown detector backend {backend!r} in model card {path} (known: {known})")
    try:
        card = _CARD_ADAPTER.validate_python(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = list(first["loc"])
        if loc and loc[0] == backend:  # the discriminated union puts the tag first
            loc = loc[1:]
        where = ".".join(str(p) for p in loc) or "(top level)"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ModelError(f"invalid model card {path}: {where}: {_one_line(first['msg'])}{more}") from e
    card._source = path
    if not card.model_path.is_file():
        raise ModelError(f"model file not found: {card.model_path} (named by {path})")
    if resolve_classes and not card.classes:
        card = with_classes(card, card.model_path, read_metadata(card.model_path))
    return card


# ---------------------------------------------------------------- checks against the loaded model


class _TensorInfo(Protocol):
    """What onnxruntime's NodeArg offers."""

    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> list[Any]: ...


def mismatch(card: NanoDetCard | YoloCard | GenericCard, model_path: Path, what: str) -> ModelError:
    card_name = f" (card {card.source})" if card.source else ""
    return ModelError(f"model {model_path} does not match its card{card_name}: {what}")


def check_input(
    card: NanoDetCard | YoloCard | GenericCard, model_path: Path, inputs: list[_TensorInfo]
) -> None:
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


def check_model_io(
    card: NanoDetCard, model_path: Path, inputs: list[_TensorInfo], outputs: list[_TensorInfo]
) -> None:
    """Compare the session's declared inputs/outputs with a NanoDet card (dynamic dims match anything)."""
    check_input(card, model_path, inputs)
    expected = 2 * len(card.outputs)
    if len(outputs) != expected:
        raise mismatch(card, model_path, f"{len(outputs)} outputs, card lists {expected}")
    names = {o.name for o in outputs}
    missing = [n for pair in card.outputs for n in (pair.scores, pair.boxes) if n not in names]
    if missing:
        raise mismatch(card, model_path, f"no output named {missing[0]!r} (outputs: {sorted(names)})")


def check_output_shapes(card: NanoDetCard, model_path: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    """Compare the shapes of actual outputs (from a probe run) with what a NanoDet card implies."""
    bins = 4 * (card.head.reg_max + 1)
    for pair in card.outputs:
        n = card.cells(pair.stride)
        for name, want in ((pair.scores, (1, n, len(card.classes))), (pair.boxes, (1, n, bins))):
            got = tuple(shapes[name])
            if got[1:] != want[1:]:
                raise mismatch(
                    card,
                    model_path,
                    f"output {name!r} (stride {pair.stride}) has shape {list(got)}, "
                    f"card implies {list(want)}",
                )
