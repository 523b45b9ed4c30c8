"""Model cards: the YAML file next to each .onnx that says how to feed and decode it.

A card's `backend` names its detector kind; each kind has its own card model here (`extra="forbid"`), and
`sentinel.detect.detectors.registry` ties backend names to (card model, detector class):

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

A new detector kind subclasses `ModelCardBase` with `backend: Literal["its-name"]` and its own fields.
Reading a card from disk is `sentinel.detect.detectors.card_loading.load_model_card`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator


class ModelError(Exception):
    """A model or its card is missing, unreadable, invalid or does not match; the message is one line."""


class CardPart(BaseModel):
    """Every card and card section: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- inputs


class InputBase(CardPart):
    """How frames become the model input; what `sentinel.detect.detectors.letterbox.Letterbox` needs."""

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
    name: str | None = Field(default=None, description="the graph input; default: its only input")

    @model_validator(mode="after")
    def _positive_std(self) -> Self:
        if min(self.std) <= 0:
            raise ValueError("std values must be > 0")
        return self

    def shape(self) -> list[int]:
        c, h, w = 3, self.height, self.width
        return [self.batch, c, h, w] if self.layout == "NCHW" else [self.batch, h, w, c]


class InputSpec(InputBase):
    """NanoDet cards spell everything out, the input name too."""

    name: str


class OnnxInputSpec(InputBase):
    """YOLO and generic cards: Ultralytics' preprocessing unless the card says otherwise."""

    layout: Literal["NCHW", "NHWC"] = "NCHW"
    colour_order: Literal["BGR", "RGB"] = "RGB"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (255.0, 255.0, 255.0)
    resize: Literal["letterbox", "stretch"] = "letterbox"
    pad_value: int = Field(default=114, ge=0, le=255)


# ---------------------------------------------------------------- licence and provenance


class Licence(CardPart):
    weights: str
    packaging: str | None = None


class Provenance(CardPart):
    """Provenance of the shipped NanoDet conversion."""

    npm_package: str
    source_files: dict[str, str]
    conversion: str
    tools: dict[str, str]
    opset: int
    onnx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    notes: str | None = None


class ExportProvenance(CardPart):
    """Provenance of a model a user brings: where the weights come from and how the ONNX was made."""

    source: str = Field(description="where the weights / the export come from (URL, command, vendor)")
    exporter: str | None = None
    opset: int | None = None
    onnx_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    notes: str | None = None


# ---------------------------------------------------------------- cards


class ModelCardBase(CardPart):
    """What every card has; a detector kind's card adds `backend: Literal[...]`, its input and outputs."""

    name: str
    file: str = Field(description="the .onnx file, relative to the card")
    architecture: str | None = None
    classes: list[str]
    licence: Licence
    limits: str | None = None
    backend: str
    input: InputBase

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

    def loaded_from(self, path: Path | None) -> Self:
        """This card, remembering the file it was read from (the model file is found next to it)."""
        self._source = path
        return self


class HeadSpec(CardPart):
    strides: list[int] = Field(min_length=1)
    reg_max: int = Field(ge=1, description="box sides are distributions over reg_max + 1 bins")
    centre_offset: float = Field(default=0.5, ge=0, le=1)
    scores: Literal["sigmoid"] = Field(description="activation already applied inside the graph")


class OutputPair(CardPart):
    stride: int = Field(gt=0)
    scores: str
    boxes: str


class NanoDetCard(ModelCardBase):
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


class YoloCard(ModelCardBase):
    backend: Literal["yolov5", "yolov8", "yolov11"]
    input: OnnxInputSpec
    output: str | None = Field(default=None, description="the predictions output; default: the first")
    classes: list[str] = Field(default_factory=list, description="empty: from the ONNX metadata `names`")
    provenance: ExportProvenance

    @property
    def layout(self) -> Literal["v5", "v8"]:
        """v5: [batch, N, 5 + classes] with objectness; v8 (also v11): [batch, 4 + classes, N]."""
        return "v5" if self.backend == "yolov5" else "v8"


class GenericOutputs(CardPart):
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


class GenericCard(ModelCardBase):
    backend: Literal["generic"]
    input: OnnxInputSpec
    outputs: GenericOutputs
    classes: list[str] = Field(default_factory=list, description="empty: from the ONNX metadata `names`")
    provenance: ExportProvenance
