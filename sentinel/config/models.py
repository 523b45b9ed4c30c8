"""Typed configuration: the site, MQTT, database, detector and the camera registry.

Every model refuses unknown keys (a typo is an error, not a silently ignored setting). Loading YAML and
turning validation errors into `FILE:LINE: key.path: message` lives in `config_loader.py`.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from shapely.geometry import Polygon

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}

DEFAULT_MODEL_CARD = Path(__file__).resolve().parents[2] / "models" / "nanodet-g-416.yaml"


def _parse_duration(value: Any) -> Any:
    """Accept seconds as a number, or a string like `90s`, `5m`, `2h`."""
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"not a duration: {value!r} (use seconds, or e.g. '30s', '5m', '2h')")
        return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    return value


Seconds = Annotated[float, BeforeValidator(_parse_duration), Field(ge=0)]
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)


def _parse_size(value: Any) -> Any:
    """Accept bytes as a number, or a string like `500MB`, `20GiB`, `1.5T` (K/M/G/T are powers of 1024)."""
    if isinstance(value, str):
        m = _SIZE.match(value)
        if not m:
            raise ValueError(f"not a size: {value!r} (use bytes, or e.g. '500MB', '20GB')")
        unit = (m.group(2) or "b")[0].lower()
        return int(float(m.group(1)) * 1024 ** "bkmgt".index(unit))
    return value

PositiveSeconds = Annotated[float, BeforeValidator(_parse_duration), Field(gt=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def expand_env(text: str, environ: dict[str, str] | None = None) -> str:
    """Replace `${VAR}` references; raises KeyError naming the first unset variable."""
    env = os.environ if environ is None else environ

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            raise KeyError(name)
        return env[name]

    return ENV_REF.sub(sub, text)


def _check_env_refs(value: str) -> str:
    for name in ENV_REF.findall(value):
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
    return value


EnvString = Annotated[str, Field(min_length=1)]


def _expand_path(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return expand_env(value)
        except KeyError as exc:
            raise ValueError(f"environment variable {exc.args[0]} is not set") from None
    return value


EnvPath = Annotated[Path, BeforeValidator(_expand_path)]


# ---------------------------------------------------------------- site, broker, storage, detector


class SiteConfig(Strict):
    id: str = Field(default="demo", pattern=r"^[A-Za-z0-9_-]+$")
    name: str = "Sentinel demo site"
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v


class MqttConfig(Strict):
    url: str | None = Field(
        default=None, description="mqtt://host:port or mqtts://host:port; unset: start an embedded broker"
    )
    topic_prefix: str = "sentinel/{site}"
    client_id: str | None = None
    username: str | None = None
    password: str | None = None
    keepalive: int = Field(default=30, ge=5, le=3600)
    embedded_port: int = Field(
        default=1883, ge=0, le=65535, description="port of the embedded broker; 0 = any"
    )
    status_interval: PositiveSeconds = Field(
        default=10.0, description="retained camera status: on every change, and fps/last frame this often"
    )
    embedded_port_fallback: bool = Field(default=False, description="embedded_port taken: use any free port")
    tls_ca: EnvPath | None = Field(
        default=None, description="mqtts://: CA certificate (PEM) of the broker's certificate; unset: system"
    )
    tls_cert: EnvPath | None = Field(default=None, description="mqtts://: client certificate (PEM) if needed")
    tls_key: EnvPath | None = Field(default=None, description="mqtts://: the client certificate's key (PEM)")
    tls_insecure: bool = Field(
        default=False, description="mqtts://: do not check the broker's host name (testing only)"
    )

    @model_validator(mode="after")
    def _tls_and_login(self) -> MqttConfig:
        tls = [k for k in ("tls_ca", "tls_cert", "tls_key") if getattr(self, k) is not None]
        if self.tls_insecure:
            tls.append("tls_insecure")
        if tls and not (self.url or "").startswith("mqtts://"):
            raise ValueError(f"{', '.join(tls)} need(s) url: mqtts://HOST[:PORT] (TLS)")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.password is not None and not self.username:
            raise ValueError("password needs username")
        return self

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^mqtts?://[^/:]+(:\d+)?/?$", v):
            raise ValueError("expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
        return v

    @field_validator("password", "username")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        return None if v is None else _check_env_refs(v)


class DatabaseConfig(Strict):
    url: str | None = Field(default=None, description="SQLAlchemy URL; unset: SQLite under data_dir")


class NodeConfig(Strict):
    """This process as one node of several sharing cameras through PostgreSQL leases (sentinel.cluster).
    Only used with a PostgreSQL `database.url`; SQLite runs a single node that owns every camera."""

    id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="unique per node; unset: the host name",
    )
    max_cameras: int = Field(default=0, ge=0, description="cameras this node takes at most; 0 = no limit")
    lease_ttl: Seconds = Field(
        default=15.0, ge=3, le=600, description="a camera whose lease is not renewed this long may move"
    )
    renew_interval: Seconds | None = Field(
        default=None, gt=0, description="seconds between lease renewals; unset: a third of lease_ttl"
    )

    @model_validator(mode="after")
    def _renew_inside_ttl(self) -> NodeConfig:
        if self.renew_interval is not None and self.renew_interval > self.lease_ttl / 2:
            raise ValueError(
                f"renew_interval ({self.renew_interval:g} s) must be at most half of lease_ttl "
                f"({self.lease_ttl:g} s): a lease must survive one failed renewal"
            )
        return self

    @property
    def renew_every(self) -> float:
        return self.renew_interval if self.renew_interval is not None else self.lease_ttl / 3


class StorageConfig(Strict):
    data_dir: EnvPath = Path("var")
    snapshot_retention_days: int = Field(
        default=30, ge=1, description="alert media (snapshots and clips) older than this many days is deleted"
    )
    max_media_bytes: Annotated[int, BeforeValidator(_parse_size), Field(ge=0)] | None = Field(
        default=None,
        description="snapshots and clips together stay under this size (e.g. 50GB): oldest days go first; "
        "unset: no size limit",
    )


class DetectorConfig(Strict):
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
    analysis_width: int = Field(
        default=640,
        ge=0,
        le=4096,
        description="frames wider than this are analysed (detector, image rules) at this width, converted "
        "straight from the decoder's YUV; snapshots stay full resolution; 0 = full resolution",
    )
    motion_gate: MotionGateConfig = Field(default_factory=lambda: MotionGateConfig())


class MotionGateConfig(Strict):
    """Skip inference on a camera whose picture has not changed since its last inference: the previous
    detections are reused (with the new frame's time), so trackers and rules still see every analysed frame."""

    enabled: bool = True
    width: int = Field(default=96, ge=16, le=320, description="change-test thumbnail width (grey, area mean)")
    pixel_threshold: float = Field(
        default=10.0, gt=0, le=255, description="a thumbnail cell has changed above this many grey levels"
    )
    min_changed: float = Field(
        default=0.001, ge=0, lt=1, description="share of changed cells that counts as a change (run inference)"
    )
    max_skip: PositiveSeconds = Field(
        default=10.0, le=3600, description="run inference at least this often, whatever the change test says"
    )


DetectorConfig.model_rebuild()


# ---------------------------------------------------------------- cameras, zones, rules


class DecodeMode(StrEnum):
    keyframes = "keyframes"  # decode only I-frames (skip_frame=NONKEY)
    all = "all"  # decode every frame, then sample analyze_fps
    auto = "auto"  # keyframes when the GOP is short enough for analyze_fps, else all


class Location(Strict):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


Point = tuple[float, float]


class Zone(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    polygon: list[Point] = Field(description="[[x, y], ...] in normalised image coordinates 0..1")

    @field_validator("polygon")
    @classmethod
    def _valid_polygon(cls, pts: list[Point]) -> list[Point]:
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
        return pts


class RuleBase(Strict):
    event_type: str
    zone: str | None = Field(default=None, description="zone name; unset: the whole frame")
    cooldown: Seconds = Field(default=300.0, description="after an alert, stay quiet this long")


class CountInZoneRule(RuleBase):
    """Fires when the objects of `classes` in the zone reach the minimums for `min_duration`.

    `min_count` counts all `classes` together (a crowd: `classes: [person]`, `min_count: 10`; a bike pile:
    `classes: [bicycle, motorcycle]`, `min_count: 8`); `min_per_class` sets a minimum for each class
    (`min_per_class: {bicycle: 5, motorcycle: 3}`; `classes` then defaults to its keys). Both set: both hold.
    """

    kind: Literal["count_in_zone"]
    classes: list[str] = Field(default_factory=lambda: ["person"], min_length=1)
    min_count: int | None = Field(default=None, ge=1, description="all `classes` together")
    min_per_class: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict, description="a minimum for each named class"
    )
    min_duration: Seconds = 10.0
    min_score: float = Field(default=0.35, gt=0, lt=1)
    clear_ratio: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="the condition is over once a count drops below ratio × its minimum",
    )

    @model_validator(mode="before")
    @classmethod
    def _classes_from_minimums(cls, data: Any) -> Any:
        # `min_per_class: {bicycle: 5}` alone should not silently keep the default `classes: [person]`
        if isinstance(data, dict) and "classes" not in data and isinstance(data.get("min_per_class"), dict):
            return {**data, "classes": list(data["min_per_class"])}
        return data

    @model_validator(mode="after")
    def _has_minimum(self) -> CountInZoneRule:
        if self.min_count is None and not self.min_per_class:
            raise ValueError("set min_count (all classes together), min_per_class (each class), or both")
        for name in self.min_per_class:
            if name not in self.classes:
                raise ValueError(f"min_per_class names {name!r}, which is not in classes {self.classes}")
        return self


class DwellRule(RuleBase):
    """An object of `classes` stays stationary in the zone for `min_duration` (parking, stalls).

    With `with_classes`, only while an object of those classes stays near it (a vendor at a stall)."""

    kind: Literal["dwell"]
    classes: list[str] = Field(min_length=1)
    min_duration: Seconds = 120.0
    min_score: float = Field(default=0.35, gt=0, lt=1)
    with_classes: list[str] = Field(
        default_factory=list, description="companions that must stay near the object (e.g. [person])"
    )
    with_within: float = Field(
        default=1.0,
        ge=0,
        le=10,
        description="near = the gap between the boxes is at most this many object sizes (its box's longer side)",
    )
    max_gap: Seconds = Field(
        default=30.0,
        description="an object or companion unseen up to this long (missed, occluded) and back in place "
        "is the same stay",
    )

    @model_validator(mode="after")
    def _companions(self) -> DwellRule:
        both = [c for c in self.with_classes if c in self.classes]
        if both:
            raise ValueError(f"class {both[0]!r} is in both classes and with_classes")
        if "with_within" in self.model_fields_set and not self.with_classes:
            raise ValueError("with_within needs with_classes (the companions it measures)")
        return self


class LineCrossingRule(RuleBase):
    """Objects of `classes` crossing the line from side A to side B (or either way).

    Side A is on your left when you stand on the line's first point facing its second, looking at the
    picture as shown (y grows downward): for [[0, 0.5], [1, 0.5]], A is the upper half."""

    kind: Literal["line_crossing"]
    line: tuple[Point, Point] = Field(description="[[x1, y1], [x2, y2]] normalised")
    direction: Literal["a_to_b", "b_to_a", "both"] = "both"
    classes: list[str] = Field(default_factory=lambda: ["person"], min_length=1)
    min_count: int = Field(default=1, ge=1)
    window: PositiveSeconds = Field(default=60.0, description="count crossings within this sliding window")
    min_score: float = Field(default=0.35, gt=0, lt=1)

    @field_validator("line", mode="before")
    @classmethod
    def _two_points(cls, v: Any) -> Any:
        if isinstance(v, list | tuple) and len(v) != 2:
            raise ValueError(f"a line is two points [[x1, y1], [x2, y2]], got {len(v)}")
        return v

    @field_validator("line")
    @classmethod
    def _valid_line(cls, line: tuple[Point, Point]) -> tuple[Point, Point]:
        for x, y in line:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point [{x}, {y}] is outside the image (coordinates are normalised 0..1)")
        (x1, y1), (x2, y2) = line
        if ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5 < 0.01:
            raise ValueError("the line has (almost) zero length: its two points must differ")
        return line


class StaticObjectRule(RuleBase):
    """New static foreground (not explained by a detected person/vehicle) persisting `min_duration` in the zone."""

    kind: Literal["static_object"]
    min_duration: Seconds = 300.0
    min_area: float = Field(default=0.002, gt=0, lt=1, description="fraction of the frame")
    ignore_classes: list[str] = Field(
        default_factory=lambda: ["person", "bicycle", "car", "motorcycle", "bus", "truck"]
    )
    settle_time: PositiveSeconds = Field(
        default=30.0, description="something must stay still about this long to count as static"
    )
    learn_time: PositiveSeconds = Field(
        default=1800.0, description="time constant of the long-term background (how fast the scene is learnt)"
    )
    min_contrast: float = Field(
        default=20.0, ge=2, le=255, description="colour difference (0-255) from the background that counts"
    )

    @model_validator(mode="after")
    def _time_constants(self) -> StaticObjectRule:
        if self.learn_time < 10 * self.settle_time:
            raise ValueError("learn_time must be at least 10 x settle_time")
        return self


class SceneChangeRule(RuleBase):
    """Lasting structural change against the stored reference view (illegal construction)."""

    kind: Literal["scene_change"]
    min_duration: Seconds = 1800.0
    min_area: float = Field(default=0.01, gt=0, lt=1, description="fraction of the zone that must change")
    ignore_classes: list[str] = Field(
        default_factory=lambda: ["person", "bicycle", "car", "motorcycle", "bus", "truck"],
        description="changes inside boxes of these detections do not count",
    )


HealthCheck = Literal["blocked", "moved", "blurred"]
ALL_HEALTH_CHECKS: tuple[HealthCheck, ...] = ("blocked", "moved", "blurred")


class CameraHealthRule(RuleBase):
    """The view is blocked/covered, moved, or defocused for `min_duration` (camera_tampered)."""

    kind: Literal["camera_health"]
    checks: list[HealthCheck] = Field(default_factory=lambda: list(ALL_HEALTH_CHECKS), min_length=1)
    min_duration: Seconds = 30.0
    blocked_area: float = Field(
        default=0.6, gt=0, le=1, description="blocked: share of the view whose structure has gone"
    )
    max_shift: float = Field(
        default=0.02, gt=0, lt=0.5, description="moved: displacement from the reference, share of the width"
    )
    min_sharpness: float = Field(
        default=0.4, gt=0, lt=1, description="blurred: sharpness below this fraction of the reference's"
    )

    @field_validator("zone")
    @classmethod
    def _whole_view(cls, v: str | None) -> str | None:
        if v is not None:
            raise ValueError("camera_health checks the whole view: remove `zone`")
        return v


Rule = Annotated[
    CountInZoneRule | DwellRule | LineCrossingRule | StaticObjectRule | SceneChangeRule | CameraHealthRule,
    Field(discriminator="kind"),
]
RULE_MODELS: tuple[type[RuleBase], ...] = (
    CountInZoneRule,
    DwellRule,
    LineCrossingRule,
    StaticObjectRule,
    SceneChangeRule,
    CameraHealthRule,
)
RULE_KINDS: tuple[str, ...] = tuple(get_args(m.model_fields["kind"].annotation)[0] for m in RULE_MODELS)


class ControlPoint(Strict):
    """One calibration pair: a pixel (normalised 0..1) and the ground point it shows (WGS-84 lon/lat)."""

    image: Point
    ground: Point = Field(description="[lon, lat], WGS-84 / CGCS2000")


class CameraConfig(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_\-]+$", max_length=64)
    name: str = ""
    enabled: bool = True  # declared before source: a disabled camera may leave its ${VAR}s unset
    source: EnvString = Field(description="rtsp://user:${PASSWORD}@host/path, file:///path or a plain path")
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    decode: DecodeMode = DecodeMode.auto
    analyze_fps: float = Field(default=1.0, gt=0, le=30)
    realtime: bool = Field(
        default=True, description="file sources: pace at native rate (False: as fast as possible)"
    )
    loop: bool = Field(default=True, description="file sources: start again at the end")
    open_timeout: PositiveSeconds = 10.0
    read_timeout: PositiveSeconds = 10.0
    stall_timeout: PositiveSeconds = Field(default=10.0, description="no frame for this long: reopen")
    offline_alert_after: Seconds = 300.0
    location: Location | None = None
    grid: str | None = Field(default=None, pattern=r"^\d{15}$", description="15-digit grid cell code")
    homography: list[ControlPoint] = Field(
        default_factory=list, description=">= 4 image↔ground control points; empty: use `location`"
    )
    zones: list[Zone] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    privacy_masks: list[list[Point]] = Field(
        default_factory=list,
        description="polygons [[x, y], ...] (normalised 0..1) blacked out in snapshots, clips and the live view",
    )
    clip_pre: Seconds = Field(default=10.0, le=60, description="alert clip: seconds before the alert frame")
    clip_post: Seconds = Field(
        default=10.0, le=60, description="alert clip: seconds after it; clip_pre and clip_post 0: no clips"
    )

    @field_validator("privacy_masks")
    @classmethod
    def _masks(cls, masks: list[list[Point]]) -> list[list[Point]]:
        for i, pts in enumerate(masks):
            try:
                Zone._valid_polygon(pts)
            except ValueError as exc:
                raise ValueError(f"mask {i}: {exc}") from None
        return masks

    @field_validator("source")
    @classmethod
    def _source(cls, v: str, info: ValidationInfo) -> str:
        if info.data.get("enabled", True):
            _check_env_refs(v)
        if "://" in v and not re.match(r"^(rtsp|rtsps|rtmp|http|https|file|udp|srt)://", v):
            raise ValueError(
                f"unsupported URL scheme in {v.split('://')[0]!r}:// (use rtsp://, file:// or a path)"
            )
        return v

    @model_validator(mode="after")
    def _references(self) -> CameraConfig:
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


class GridConfig(Strict):
    """Grid cells and who answers for them. Relative paths are relative to the config file."""

    cells: EnvPath | None = Field(default=None, description="GeoJSON of street/community/grid polygons")
    roster: EnvPath | None = Field(default=None, description="YAML of grid workers, leaders, duty staff")


class CasesConfig(Strict):
    """How confirmed alerts become grid cases: joining, deadlines, escalation, verification by camera."""

    enabled: bool = True
    join_radius_m: float = Field(
        default=50.0, ge=0, description="an alert this close to an open case of its type (same grid) joins it"
    )
    reminder_at: float | None = Field(
        default=0.5, gt=0, lt=1, description="remind the assignee at this fraction of a deadline; null: never"
    )
    escalation: dict[str, list[float]] = Field(
        default_factory=lambda: {
            "minor": [1.0, 1.0, 1.0, 1.0],
            "normal": [1.0, 0.5, 0.5, 0.5],
            "major": [1.0, 0.5, 0.5, 0.5],
            "urgent": [0.0, 0.0, 0.0, 1.0],  # straight to the street (and the command platform)
        },
        description="per severity, the time each level gets (grid worker, grid leader, community duty, "
        "street duty) as a fraction of the event type's deadline; 0 skips a level",
    )
    working_days: list[int] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5], description="ISO weekdays (1 = Monday)"
    )
    working_hours: list[str] = Field(
        default_factory=lambda: ["09:00-12:00", "13:30-18:00"], description="periods, site time zone"
    )
    holidays: list[str] = Field(default_factory=list, description="YYYY-MM-DD dates that are not worked")
    extra_workdays: list[str] = Field(
        default_factory=list, description="YYYY-MM-DD weekend dates that are worked (调休)"
    )
    camera_verification: bool = Field(
        default=True, description="after feedback, the camera that saw the case re-checks the place"
    )
    verify_clear_checks: int = Field(default=4, ge=1, description="N consecutive reports of 'gone'")
    verify_clear_span: Seconds = Field(default=15.0, description="... spread over at least this long")
    verify_active_checks: int = Field(default=12, ge=1, description="M consecutive reports of 'still there'")
    verify_active_span: Seconds = Field(default=60.0, description="... spread over at least this long")
    verify_timeout: PositiveSeconds = Field(
        default=3600.0, description="no verdict from the camera by then: an operator verifies"
    )
    operator_close_types: list[str] = Field(
        default_factory=list,
        description="event types an operator closes after the camera has verified them (others close at once)",
    )

    @field_validator("escalation")
    @classmethod
    def _ladder(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        for severity, factors in v.items():
            if severity not in ("minor", "normal", "major", "urgent"):
                raise ValueError(f"unknown severity {severity!r} (minor, normal, major, urgent)")
            if len(factors) != 4 or any(f < 0 for f in factors) or not any(f > 0 for f in factors):
                raise ValueError(
                    f"{severity}: give 4 factors >= 0 (grid worker, grid leader, community duty, street "
                    f"duty), at least one above 0; got {factors}"
                )
        return v

    @field_validator("working_days")
    @classmethod
    def _weekdays(cls, v: list[int]) -> list[int]:
        if not v or any(d < 1 or d > 7 for d in v):
            raise ValueError("give ISO weekdays 1 (Monday) .. 7 (Sunday), at least one")
        return v

    @field_validator("working_hours")
    @classmethod
    def _periods(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("give at least one working period, e.g. 09:00-12:00")
        previous_end = "00:00"
        for period in v:
            start, _, end = period.strip().partition("-")
            ok = all(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", t) for t in (start, end))
            if not ok or start >= end:
                raise ValueError(f"{period!r}: expected HH:MM-HH:MM with start before end, e.g. 09:00-12:00")
            if start < previous_end:
                raise ValueError(f"{period!r} overlaps or precedes the period before it (list them in order)")
            previous_end = end
        return v

    @field_validator("holidays", "extra_workdays", mode="before")
    @classmethod
    def _dates(cls, v: Any) -> Any:
        from datetime import date

        if not isinstance(v, list):
            return v
        out = []
        for item in v:  # YAML reads an unquoted 2026-10-01 as a date
            text = item.isoformat() if isinstance(item, date) else item
            try:
                date.fromisoformat(text)
            except (TypeError, ValueError):
                raise ValueError(f"{item!r} is not a date (use YYYY-MM-DD)") from None
            out.append(text)
        return out


class ConsoleConfig(Strict):
    """The operators' web console and REST API (served by `sentinel run`)."""

    enabled: bool = True
    host: str = Field(default="127.0.0.1", description="listen address; 0.0.0.0 exposes it to the network")
    port: int = Field(default=8080, ge=0, le=65535, description="0 = any free port")
    secure_cookies: bool = Field(
        default=False, description="mark the session cookie Secure (set when served over https)"
    )


class EventTypeOverride(Strict):
    """Any field of an event type a site wants to change (or a whole new type)."""

    name: str | None = None
    name_en: str | None = None
    code: str | None = None
    severity: Literal["minor", "normal", "major", "urgent"] | None = None
    rule_kind: str | None = None
    deadline: Seconds | None = None
    working_hours: bool | None = None
    auto_register: bool | None = None


class SentinelConfig(Strict):
    site: SiteConfig = SiteConfig()
    mqtt: MqttConfig = MqttConfig()
    database: DatabaseConfig = DatabaseConfig()
    node: NodeConfig = NodeConfig()
    storage: StorageConfig = StorageConfig()
    detector: DetectorConfig = DetectorConfig()
    grid: GridConfig = GridConfig()
    cases: CasesConfig = CasesConfig()
    console: ConsoleConfig = ConsoleConfig()
    event_types: dict[str, EventTypeOverride] = Field(
        default_factory=dict, description="per-site overrides of the shipped event-type table"
    )
    workers: int = Field(default=0, ge=0, le=256, description="analysis worker processes; 0 = CPU cores")
    cameras_file: Path | None = Field(
        default=None, description="camera registry file (relative to this file)"
    )
    cameras: list[CameraConfig] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """A section whose settings are all commented out (`database:` alone) means its defaults."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (v is None and k in _SECTIONS)}
        return data

    def topic_prefix(self) -> str:
        return self.mqtt.topic_prefix.replace("{site}", self.site.id).rstrip("/")


_SECTIONS = {"site", "mqtt", "database", "node", "storage", "detector", "grid", "cases", "console", "event_types"}
