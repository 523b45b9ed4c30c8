"""The detect part's settings: the detector and its motion gate, zones, the privacy-mask polygons and the
detection filter (score, size and shape limits, duplicate and nested boxes, object masks).

Rule parameters live with their rules (`sentinel/detect/rules/<kind>.py`); `sentinel.config` composes all of
these into the config file's schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from shapely.geometry import Polygon

from sentinel.fields import EnvPath, Point, PositiveSeconds, Strict

DEFAULT_MODEL_CARD = Path(__file__).resolve().parents[2] / "models" / "nanodet-g-416.yaml"


def valid_polygon(pts: Sequence[Point]) -> None:
    """Raise ValueError unless `pts` is a usable area of the picture (normalised 0..1, >= 3 points)."""
    if len(pts) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(pts)}")
    for x, y in pts:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point [{x}, {y}] is outside the image (coordinates are normalised 0..1)")
    poly = Polygon(pts)
    if not poly.is_valid:
        raise ValueError("polygon crosses itself (check the order of the points)")
    if poly.area < 1e-4:
        raise ValueError("polygon has (almost) no area")


def valid_privacy_masks(masks: list[list[Point]]) -> list[list[Point]]:
    """Every mask a valid polygon; the error names the mask (the list is checked as one field, so the
    error points at `privacy_masks`, where a technician looks)."""
    for i, pts in enumerate(masks):
        try:
            valid_polygon(pts)
        except ValueError as exc:
            raise ValueError(f"mask {i}: {exc}") from None
    return masks


class MotionGateConfig(Strict):
    """Skip inference on a camera whose picture has not changed since its last inference: the previous
    detections are reused (with the new frame's time), so trackers and rules still see every analysed frame."""

    enabled: bool = True
    width: int = Field(default=96, ge=16, le=320, description="change-test thumbnail width (grey, area mean)")
    pixel_threshold: float = Field(
        default=10.0, gt=0, le=255, description="a thumbnail cell has changed above this many grey levels"
    )
    min_changed: float = Field(
        default=0.001,
        ge=0,
        lt=1,
        description="share of changed cells that counts as a change (run inference)",
    )
    max_skip: PositiveSeconds = Field(
        default=10.0, le=3600, description="run inference at least this often, whatever the change test says"
    )


DETECTOR_NAME = r"^[a-z][a-z0-9_\-]{0,31}$"  # a key of `detectors:`, named by a camera or a rule
DEFAULT_DETECTOR = "default"  # the `detector:` section's name: the shipped model unless changed there


class ModelSettings(Strict):
    """One detector: its model card and the numbers it is run with."""

    model: EnvPath = DEFAULT_MODEL_CARD
    score_threshold: float = Field(default=0.35, gt=0, lt=1)
    nms_iou: float = Field(default=0.6, gt=0, lt=1)
    threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="ONNX Runtime intra-op threads per worker; workers default to one per core, so 1 "
        "keeps the total at about the core count",
    )


class NamedDetectorConfig(ModelSettings):
    """An entry of `detectors:` (a second model, e.g. a site's fire/smoke or plate model): `model` is
    required, since the default model is the `detector:` section already."""

    model: EnvPath


class DetectorConfig(ModelSettings):
    """The `detector:` section: the default detector (named `default`), and the camera-wide analysis
    settings every camera's pipeline uses whatever detectors its rules read."""

    analysis_width: int = Field(
        default=640,
        ge=0,
        le=4096,
        description="frames wider than this are analysed (detector, image rules) at this width, converted "
        "straight from the decoder's YUV; snapshots stay full resolution; 0 = full resolution",
    )
    motion_gate: MotionGateConfig = Field(default_factory=lambda: MotionGateConfig())


class Zone(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    polygon: list[Point] = Field(description="[[x, y], ...] in normalised image coordinates 0..1")

    @field_validator("polygon")
    @classmethod
    def _valid_polygon(cls, pts: list[Point]) -> list[Point]:
        valid_polygon(pts)
        return pts


# ---------------------------------------------------------------- detector hygiene (sentinel.detect.hygiene)


class BoxLimits(Strict):
    """Limits on one class's boxes (or, under `all`, every class's); unset: no limit (or `all`'s)."""

    min_score: float | None = Field(default=None, gt=0, lt=1, description="drop boxes scoring below")
    min_area: float | None = Field(default=None, ge=0, lt=1, description="box area / picture area")
    max_area: float | None = Field(default=None, gt=0, le=1, description="box area / picture area")
    min_aspect: float | None = Field(default=None, gt=0, description="box height / width, in pixels")
    max_aspect: float | None = Field(default=None, gt=0, description="box height / width, in pixels")

    @model_validator(mode="after")
    def _ordered(self) -> BoxLimits:
        for low, high in (("min_area", "max_area"), ("min_aspect", "max_aspect")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo >= hi:
                raise ValueError(f"{low} ({lo}) must be below {high} ({hi})")
        return self

    def over(self, base: BoxLimits) -> BoxLimits:
        """These limits, falling back to `base` where unset."""
        return base.model_copy(update=self.model_dump(exclude_none=True))


class ObjectMask(Strict):
    """A place where detections are ignored: a lamp post, a sign, a poster the detector reads as people."""

    polygon: list[Point] = Field(description="[[x, y], ...] in normalised image coordinates 0..1")
    classes: list[str] = Field(default_factory=list, description="the classes ignored there; empty: all")
    min_overlap: float = Field(
        default=0.5, gt=0, le=1, description="a box is ignored when this share of its area is inside"
    )

    @field_validator("polygon")
    @classmethod
    def _valid_polygon(cls, pts: list[Point]) -> list[Point]:
        valid_polygon(pts)
        return pts


class DetectionFilter(Strict):
    """A camera's `detection_filter:`, applied to each detector's output before the tracker and the rules.
    The defaults need no technician: one object labelled twice (a parked car as car and truck) and a
    fragment of an object inside its own box (a lamp post as a person and again as half a person) count once."""

    all: BoxLimits = Field(default_factory=lambda: BoxLimits(), description="limits for every class")
    classes: dict[str, BoxLimits] = Field(
        default_factory=dict, description="limits per class name (over `all`), e.g. person: {min_score: 0.45}"
    )
    duplicate_iou: float | None = Field(
        default=0.8,
        gt=0,
        lt=1,
        description="boxes of any classes overlapping this much (IoU) are one object: the best score stays; "
        "null: off",
    )
    nested_within: float | None = Field(
        default=0.8,
        gt=0,
        le=1,
        description="a box with this share of its area inside a larger box of its class is a fragment of "
        "that object and is dropped; null: off",
    )
    nested_across_classes: bool = Field(
        default=False,
        description="also drop a box inside a larger box of another class (off by default: a person in "
        "front of a bus, a rider on a bicycle)",
    )
    masks: list[ObjectMask] = Field(default_factory=list)
