"""The alert as published (`sentinel.alert/1`) and stored. The JSON Schema in `sentinel/data/alert.schema.json`
is generated from these models (tools/gen_schemas.py; a test fails when the file and the models differ): it is
the contract the command platform codes against, and real payloads are validated against it."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

ALERT_SCHEMA: Final = "sentinel.alert/1"
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
Timestamp = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$",
        description="ISO 8601 with a UTC offset",
    ),
]
Severity = Literal["minor", "normal", "major", "urgent"]
Unit = Annotated[float, Field(ge=0, le=1)]
StreetCode = Annotated[str, Field(pattern=r"^\d{9}$")]
CommunityCode = Annotated[str, Field(pattern=r"^\d{12}$")]
GridCellCode = Annotated[str, Field(pattern=r"^\d{15}$")]
ClipUrl = Annotated[str, Field(pattern=r"^/media/clips/\d{4}-\d{2}-\d{2}/[A-Za-z0-9_-]+\.mp4$")]


def _clamped_box(value: Any) -> Any:
    """A tracked box predicted past the picture's edge is cut at the edge: a box is normalised 0..1."""
    if isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value):
        return tuple(min(1.0, max(0.0, float(v))) for v in value)
    return value


class _Out(BaseModel):
    # serialization-mode JSON Schema: a field with a default is still always present in what we publish
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class AlertObject(_Out):
    label: str
    score: Unit
    box: Annotated[tuple[Unit, Unit, Unit, Unit], BeforeValidator(_clamped_box)] = Field(
        description="normalised x1, y1, x2, y2"
    )
    track_id: int | None = None


class AlertText(_Out):
    """One line of text read in the picture (OCR), as evidence: what, how sure, where."""

    text: str = Field(min_length=1)
    score: Unit = Field(description="the OCR's confidence in the line")
    box: Annotated[tuple[Unit, Unit, Unit, Unit], BeforeValidator(_clamped_box)] = Field(
        description="normalised x1, y1, x2, y2"
    )


class AlertLocation(_Out):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    method: Literal["homography", "camera"] = Field(
        description="'homography' (ground point from the image) or 'camera' (the camera's position)"
    )


class AlertGrid(_Out):
    street: StreetCode | None
    community: CommunityCode | None
    grid: GridCellCode | None
    name: str | None


def _older_payloads_lack(*names: str) -> Any:
    def drop(schema: dict[str, Any]) -> None:
        schema["required"] = [name for name in schema["required"] if name not in names]

    return drop


MediaHref = Annotated[
    str,
    Field(
        pattern=r"^https?://[^?#]+$",
        description="the same file as an absolute URL under the console's public address "
        "(console.public_url); null when none is configured. Optional: older payloads have none",
    ),
]


class AlertSnapshot(_Out):
    url: str = Field(min_length=1, description="path under the console: /media/snapshots/DAY/ALERT.jpg")
    href: MediaHref | None = None
    sha256: str = Field(pattern=SHA256_PATTERN)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_serialization_defaults_required=True,
        json_schema_extra=_older_payloads_lack("href"),
    )


ClipState = Literal["pending", "ready", "partial", "failed"]


class AlertClip(_Out):
    """The video around the alert frame. Published `pending` with the alert (url and the planned window,
    sha256 null), then again on `.../clip` once written: `ready`, `partial` (shorter than asked: the reason
    is in `error`) or `failed` (no file: the reason is in `error`)."""

    url: ClipUrl | None = Field(description="/media/clips/DAY/ALERT.mp4; null when the clip failed")
    href: MediaHref | None = None
    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)] | None = None
    start: Timestamp | None = Field(
        description="media time of the clip's first frame (planned while pending)"
    )
    end: Timestamp | None = None
    state: ClipState
    error: str | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_serialization_defaults_required=True,
        json_schema_extra=_older_payloads_lack("href"),
    )


class AlertSummary(_Out):
    """What every view of an alert shows: the published alert below, and the console's alert list (which
    adds its review and links to the pictures instead of the raw grid and snapshot)."""

    alert_id: str = Field(pattern=UUID_PATTERN)
    event_type: str = Field(pattern=EVENT_TYPE_PATTERN)
    code: str = Field(min_length=1, description="urban-management event code (e.g. 06010) or a local code")
    name: str = Field(min_length=1, description="Chinese name, e.g. 人员聚集")
    name_en: str = Field(min_length=1)
    severity: Severity
    camera_id: str = Field(min_length=1)
    camera_name: str
    zone: str | None
    started_at: Timestamp  # site time zone
    detected_at: Timestamp
    confidence: Unit
    count: int = Field(
        ge=0,
        description="how many objects the rule counted; a crowd (count_in_zone): the median count over "
        "min_duration, while objects are the alerting frame's boxes",
    )
    objects: list[AlertObject]
    location: AlertLocation | None
    case_id: str | None = None


class Alert(AlertSummary):
    """Published QoS 1 on {prefix}/alerts/{event_type}/{camera_id}. alert_id is stable: a repeat delivery
    carries the same id."""

    schema_: Literal["sentinel.alert/1"] = Field(ALERT_SCHEMA, alias="schema")
    site: str = Field(min_length=1)
    grid: AlertGrid | None
    snapshot: AlertSnapshot | None
    detail: str | None = Field(None, description="what the rule saw, in words (optional)")
    clip: AlertClip | None = Field(
        None,
        description="Optional (added to sentinel.alert/1; older payloads have none). The video from clip_pre "
        "seconds before the alert frame to clip_post after. Published 'pending' with the alert, then again on "
        "{prefix}/alerts/{event_type}/{camera_id}/clip when written.",
    )
    texts: list[AlertText] | None = Field(
        None,
        description="Optional (added to sentinel.alert/1; older payloads have none). Text the rule read in the "
        "picture (posted_text: posters, small ads, banners), line by line, top to bottom; null when the rule "
        "reads no text.",
    )

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
        title="Sentinel alert (sentinel.alert/1)",
        json_schema_extra=_older_payloads_lack("detail", "clip", "texts"),
    )

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)
