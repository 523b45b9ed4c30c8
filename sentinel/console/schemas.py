"""Request and response models of the REST API (what the OpenAPI document describes)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sentinel.alerts.schema import AlertSummary
from sentinel.cases.kpis import KpiRow
from sentinel.cases.payload import CaseSummary
from sentinel.cases.state_machine import MAX_EXTEND_S


def invalid(where: str, message: str) -> RequestValidationError:
    """A 422 like FastAPI's own, for checks that span fields (`raise invalid("query.until", "...")`)."""
    return RequestValidationError([{"loc": tuple(where.split(".")), "msg": message, "type": "value_error"}])


class Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ErrorOut(Out):
    detail: str


# ---------------------------------------------------------------- users and login


class LoginIn(In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class PasswordChangeIn(In):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


Role = Literal["operator", "technician", "admin", "grid_worker"]
ROSTER_ID = "grid_worker: the roster person (an id of roster.yaml `people:`)"


class UserOut(Out):
    username: str
    display_name: str
    role: Role
    active: bool
    roster_id: str | None = Field(default=None, description=ROSTER_ID)


class UserCreateIn(In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    role: Role
    display_name: str = Field(default="", max_length=100)
    roster_id: str | None = Field(default=None, max_length=64, description=ROSTER_ID)


class UserUpdateIn(In):
    role: Role | None = None
    roster_id: str | None = Field(default=None, max_length=64, description=ROSTER_ID)
    active: bool | None = None
    display_name: str | None = Field(default=None, max_length=100)
    password: str | None = Field(default=None, min_length=1, max_length=256)


class TokenIn(In):
    name: str = Field(min_length=1, max_length=100, description="what the token is for")
    expires_days: int | None = Field(
        default=None, ge=1, le=3650,
        description="valid this many days; unset: console.token_lifetime (90 days), which is also the most",
    )  # fmt: skip


class TokenOut(Out):
    id: int
    username: str
    name: str
    prefix: str
    created_at: str
    expires_at: str
    last_used_at: str | None
    revoked: bool
    revoked_reason: str | None = Field(description="why: revoked on request, the password changed, ...")
    expired: bool
    state: str = Field(description="valid, expired, or revoked (with the reason)")


class TokenCreated(Out):
    token: str = Field(description="the bearer token; shown this once, store it now")
    info: TokenOut


# ---------------------------------------------------------------- alerts


class PlaceOut(Out):
    """A grid cell and its parents, with names from the grid data."""

    grid: str | None = None
    name: str | None = None
    community: str | None = None
    community_name: str | None = None
    street: str | None = None
    street_name: str | None = None


class ReviewOut(Out):
    verdict: str
    label: str | None
    reason: str | None
    actor: str
    at: str


class AlertOut(AlertSummary):
    """The published alert's own fields (`AlertSummary`), with its review, its place by name and links."""

    model_config = ConfigDict(extra="ignore")

    place: PlaceOut | None
    snapshot_url: str | None = Field(description="the JPEG (login required)")
    clip_url: str | None = Field(default=None, description="the MP4 around the alert, once written")
    clip_state: str | None = Field(default=None, description="pending, ready, partial or failed")
    review_state: Literal["new", "confirmed", "rejected"]
    review: ReviewOut | None = None
    case_number: int | None = None


class AlertPage(Out):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


class ConfirmIn(In):
    note: str | None = Field(default=None, max_length=500)


class RejectIn(In):
    reason: str = Field(max_length=500, description="why it is not a case; kept as a false-positive label")

    @field_validator("reason")
    @classmethod
    def _given(cls, v: str) -> str:
        if not v:
            raise ValueError("give a reason for the rejection (it is kept as a false-positive label)")
        return v


# ---------------------------------------------------------------- cases


class PersonOut(Out):
    id: str
    name: str | None = None
    title: str | None = None
    phone: str | None = None


class CaseOut(CaseSummary):
    """The published case's own fields (`CaseSummary`), flattened for the board, with people by name."""

    model_config = ConfigDict(extra="ignore")

    place: PlaceOut | None
    lon: float | None
    lat: float | None
    assignee: PersonOut | None
    worker: PersonOut | None = Field(description="the grid worker the roster names for the place")
    escalation_level: int
    escalation_role: str
    command_platform: bool
    deadline_at: str | None
    due_at: str | None
    overdue: bool = Field(description="a deadline has passed (escalated, or past due while open)")
    allowed_actions: list[str]


class TransitionOut(Out):
    id: int | None = None
    case_id: str
    case_number: int | None = None
    ts: str
    actor: str
    action: str
    from_state: str | None
    to_state: str
    assignee: str | None
    level: int
    note: str | None


class EvidenceOut(Out):
    """A photo reported on the case (re-encoded JPEG, no EXIF), with the note it came with."""

    id: str
    case_id: str
    transition_id: int | None = Field(description="the case log entry (feedback) it came with")
    actor: str
    ts: str
    url: str = Field(description="the JPEG (login required, to those who may see the case)")
    size: int
    sha256: str
    width: int
    height: int
    note: str | None


class VerificationOut(Out):
    """The camera's re-check of the place after feedback (round 0: never re-checked)."""

    round: int
    started_at: str | None
    result: Literal["clear", "still_active", "timeout"] | None


class MapLinks(Out):
    geo: str = Field(description="geo:LAT,LON (WGS-84): opens the phone's map app")
    amap: str = Field(description="AMap marker at the GCJ-02 position AMap expects")


class CaseDetail(CaseOut):
    transitions: list[TransitionOut]
    alerts: list[AlertOut]
    evidence: list[EvidenceOut] = []
    verification: VerificationOut | None = None
    map: MapLinks | None = None


class MyCaseOut(CaseOut):
    """A case on the phone page: where it is, what it looked like, and the caller's roles on it."""

    place_path: str = Field(description="street / community / grid, by name")
    snapshot_url: str | None
    clip_url: str | None
    map: MapLinks | None
    roles: list[str] = Field(description="the caller's roster roles that cover the case")
    escalated: bool = Field(description="escalated above the grid worker")


class MyCasePage(Out):
    items: list[MyCaseOut]
    person: PersonOut | None = Field(description="the roster person the caller is (field staff)")
    roles: list[str] = Field(description="the caller's roster roles anywhere (grid_worker, grid_leader, ...)")


class CasePage(Out):
    items: list[CaseOut]
    total: int
    limit: int
    offset: int


class CaseActionIn(In):
    action: str = Field(
        description="confirm, reject, dispatch, accept, return, extend, feedback, verify, ..."
    )
    note: str | None = Field(default=None, max_length=1000)
    assignee: str | None = Field(default=None, max_length=64, description="dispatch: to whom")
    merge_into: str | None = Field(default=None, max_length=36, description="merge: the case this one joins")
    extend_by: float | None = Field(default=None, gt=0, le=MAX_EXTEND_S, description="extend: seconds")

    @field_validator("action")
    @classmethod
    def _known(cls, v: str) -> str:
        from sentinel.cases.state_machine import ACTIONS

        if v not in ACTIONS:
            raise ValueError(f"unknown action {v!r}; actions: {', '.join(ACTIONS)}")
        return v


# ---------------------------------------------------------------- cameras, grid, KPIs, health


class ZoneOut(Out):
    name: str
    polygon: list[tuple[float, float]]


class CameraOut(Out):
    camera_id: str
    name: str
    state: str
    up: bool
    since: str | None = None
    fps: float = 0.0
    last_frame_at: str | None = None
    error: str | None = None
    decode_mode: str | None = None
    analyze_fps: float | None = None  # the analysis rate asked for now (adaptive: lower while still)
    decoded_share: float | None = None  # of the packets demuxed, the share decoded (keyframes: ~1/GOP)
    decode_fps: float = 0.0  # frames decoded per second
    reader_cpu: float = 0.0  # the camera's reader thread: CPU seconds per second
    reconnects: int = 0
    frames: int = 0
    worker: int | None = None
    node: str | None = None  # on a cluster: the node that runs it
    zones: list[ZoneOut] = []


class NodeOut(Out):
    id: str
    host: str
    alive: bool
    stopped: bool
    leader: bool
    heartbeat_age_s: float
    started_at: str
    cameras: list[str]
    max_cameras: int
    console_url: str | None = None


class GridProps(Out):
    code: str
    name: str
    level: str
    parent: str | None
    open_cases: int
    overdue_cases: int


class GridFeature(Out):
    type: Literal["Feature"] = "Feature"
    properties: GridProps
    geometry: dict[str, Any]


class MapCameraOut(Out):
    """A camera with a position (`location`, WGS-84 like the cells), its state and its open cases."""

    camera_id: str
    name: str
    lon: float
    lat: float
    state: str  # as on the camera board (online, offline, degraded, ...); "unknown": no status yet
    open_cases: int


class GridOut(Out):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    bbox: list[float] | None
    features: list[GridFeature]
    cameras: list[MapCameraOut] = []


class KpiRowOut(KpiRow):
    """The case engine's KPI row (sentinel.cases.kpis) with the grid's, community's or worker's name."""

    model_config = ConfigDict(extra="ignore", frozen=False)

    name: str | None = None


class KpiOut(Out):
    at: str
    overall: KpiRowOut
    by_grid: list[KpiRowOut]
    by_community: list[KpiRowOut]
    by_worker: list[KpiRowOut]  # keyed by roster id: who held each case at the grid-worker level


class SiteOut(Out):
    id: str
    name: str
    timezone: str
    version: str


class HealthOut(Out):
    status: Literal["ok", "degraded", "down"]
    database: bool
    broker: bool | None
    cameras_online: int
    cameras_total: int
    version: str
