"""A camera entry of the registry: the ingest part's stream settings, plus what the parts above need --
zones and rules (detect), privacy masks, the camera's place on the ground (geo) and its alert clips."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, ValidationInfo, field_validator, model_validator

from sentinel.config.profiles import profile_problems
from sentinel.detect.rules import RuleParams, rule_params_union
from sentinel.detect.schedule import ParamProfile
from sentinel.detect.settings import (
    DEFAULT_DETECTOR,
    DETECTOR_NAME,
    DetectionFilter,
    Zone,
    valid_privacy_masks,
)
from sentinel.fields import Point, Seconds, Strict
from sentinel.ingest.settings import StreamSettings

if TYPE_CHECKING:
    RuleEntry = RuleParams  # the type checker sees the common fields; at run time, the registry's union
else:
    RuleEntry = rule_params_union()


DEFER_PROFILES = "defer_profiles"  # validation context key: the caller checks `profiles:` (with lines)


class Location(Strict):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class ControlPoint(Strict):
    """One calibration pair: a pixel (normalised 0..1) and the ground point it shows (WGS-84 lon/lat)."""

    image: Point
    ground: Point = Field(description="[lon, lat], WGS-84 / CGCS2000")


class CameraConfig(StreamSettings):
    # after StreamSettings' fields (id ... offline_alert_after), in this order
    location: Location | None = None
    grid: str | None = Field(default=None, pattern=r"^\d{15}$", description="15-digit grid cell code")
    homography: list[ControlPoint] = Field(
        default_factory=list, description=">= 4 image↔ground control points; empty: use `location`"
    )
    detector: str = Field(
        default=DEFAULT_DETECTOR,
        pattern=DETECTOR_NAME,
        description="the detector this camera's rules read unless a rule names its own: `default` (the "
        "`detector:` section) or a key of `detectors:`",
    )
    zones: list[Zone] = Field(default_factory=list)
    detect_tiles: list[str] = Field(
        default_factory=list,
        description="zones also detected at full resolution: each zone's rectangle is cropped from the frame "
        "and packed into the detector input's unused letterbox band (no extra inference), or, when it does not "
        "fit there, into one more input (one more inference each); for small objects (bikes, plants) far off",
    )
    detection_filter: DetectionFilter = Field(
        default_factory=lambda: DetectionFilter(),
        description="cleans each detector's boxes before tracker and rules: limits per class, duplicate and "
        "nested boxes, object masks",
    )
    rules: list[RuleEntry] = Field(default_factory=list)
    profiles: dict[str, ParamProfile] = Field(
        default_factory=dict,
        description="parameter profiles by name: while a profile's schedule holds, the rules it names (by "
        "their `name:`) use its values; several at once: later profiles override earlier ones",
    )
    privacy_masks: list[list[Point]] = Field(
        default_factory=list,
        description="polygons [[x, y], ...] (normalised 0..1) blacked out in snapshots, clips, the console's "
        "live view, replay's video and contact sheet, and `sentinel camera snapshot` of the camera",
    )
    clip_pre: Seconds = Field(default=10.0, le=60, description="alert clip: seconds before the alert frame")
    clip_post: Seconds = Field(
        default=10.0, le=60, description="alert clip: seconds after it; clip_pre and clip_post 0: no clips"
    )

    @field_validator("detect_tiles")
    @classmethod
    def _tile_zones(cls, names: list[str], info: ValidationInfo) -> list[str]:
        zones = [z.name for z in info.data.get("zones", [])]
        for name in names:
            if name not in zones:
                raise ValueError(
                    f"zone {name!r} is not defined (zones: {', '.join(zones) or 'none defined'})"
                )
        if len(set(names)) != len(names):
            raise ValueError("a zone is named twice")
        return names

    @field_validator("privacy_masks")
    @classmethod
    def _masks(cls, masks: list[list[Point]]) -> list[list[Point]]:
        return valid_privacy_masks(masks)

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> CameraConfig:
        named = [r.name for r in self.rules if r.name is not None]
        twice = {n for n in named if named.count(n) > 1}
        if twice:
            raise ValueError(f"rule name {sorted(twice)[0]!r} is used twice on this camera")
        # the loader checks profiles itself, to name the line of each problem (`DEFER_PROFILES`)
        if not (isinstance(info.context, dict) and info.context.get(DEFER_PROFILES)):
            problems = profile_problems(self.rules, self.profiles)
            if problems:
                loc, message = problems[0]
                raise ValueError(f"{'.'.join(str(p) for p in loc)}: {message}")
        names = [z.name for z in self.zones]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"zone name {sorted(dup)[0]!r} is used twice")
        for rule in self.rules:
            if rule.zone is not None and rule.zone not in names:
                known = ", ".join(names) or "none defined"
                raise ValueError(
                    f"rule {rule.kind} names zone {rule.zone!r}, which is not defined (zones: {known})"
                )
        return self
