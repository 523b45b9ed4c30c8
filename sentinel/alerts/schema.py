"""The alert as published (`sentinel.alert/1`) and stored. The JSON Schema in `sentinel/data/alert.schema.json`
is the contract the command platform codes against; a test validates real payloads against it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertObject(_Out):
    label: str
    score: float
    box: tuple[float, float, float, float] = Field(description="normalised x1, y1, x2, y2")
    track_id: int | None = None


class AlertLocation(_Out):
    lon: float
    lat: float
    method: str = Field(
        description="'homography' (ground point from the image) or 'camera' (the camera's position)"
    )


class AlertGrid(_Out):
    street: str | None
    community: str | None
    grid: str | None
    name: str | None


class AlertSnapshot(_Out):
    url: str
    sha256: str


ClipState = Literal["pending", "ready", "partial", "failed"]


class AlertClip(_Out):
    """The video around the alert frame. Published `pending` with the alert (url and the planned window,
    sha256 null), then again on `.../clip` once written: `ready`, `partial` (shorter than asked: the reason
    is in `error`) or `failed` (no file: the reason is in `error`)."""

    url: str | None = Field(description="/media/clips/DAY/ALERT.mp4; null when the clip failed")
    sha256: str | None = None
    start: str | None = Field(description="ISO 8601: media time of the clip's first frame (planned while pending)")
    end: str | None = None
    state: ClipState
    error: str | None = None


class Alert(_Out):
    schema_: str = Field("sentinel.alert/1", alias="schema")
    alert_id: str
    site: str
    event_type: str
    code: str
    name: str
    name_en: str
    severity: str
    camera_id: str
    camera_name: str
    zone: str | None
    started_at: str  # ISO 8601 with offset, site time zone
    detected_at: str
    confidence: float
    count: int
    objects: list[AlertObject]
    location: AlertLocation | None
    grid: AlertGrid | None
    snapshot: AlertSnapshot | None
    case_id: str | None = None
    detail: str | None = None  # what the rule saw, in words (e.g. which camera_health check failed)
    clip: AlertClip | None = None  # additive to sentinel.alert/1: absent in older payloads

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)
