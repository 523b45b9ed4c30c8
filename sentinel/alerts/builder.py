"""From a rule's event to the alert an operator and the command platform see."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sentinel.alerts.clip import clip_day, clip_url
from sentinel.alerts.links import media_href
from sentinel.alerts.schema import (
    Alert,
    AlertClip,
    AlertGrid,
    AlertLocation,
    AlertObject,
    AlertSnapshot,
    AlertText,
)
from sentinel.alerts.snapshot import StoredSnapshot
from sentinel.config.event_types import EventType
from sentinel.config.models import CameraConfig
from sentinel.detect.rules import RuleEvent
from sentinel.fields.grid_code import GridCode
from sentinel.pipeline.outcomes import new_alert_id as new_alert_id  # picked where the event is seen


def iso(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="milliseconds")


def pending_clip(
    alert_id: str, detected_at: float, start: float, end: float, tz: ZoneInfo, public_url: str | None = None
) -> AlertClip:
    """The clip an alert goes out with while the worker is still writing it: its URL (next to the
    snapshot's day), absolute too under `public_url`, and the planned window."""
    url = clip_url(clip_day(datetime.fromtimestamp(detected_at, tz)), alert_id)
    return AlertClip(
        url=url, href=media_href(public_url, url), sha256=None, start=iso(start, tz), end=iso(end, tz),
        state="pending",
    )  # fmt: skip


def grid_of(code: str | None) -> AlertGrid | None:
    """The 15-digit cell code holds its parents (sentinel.fields.grid_code)."""
    if not code:
        return None
    cell = GridCode.parse(code)
    return AlertGrid(street=cell.street, community=cell.community, grid=str(cell), name=None)


def build_alert(
    alert_id: str,
    site: str,
    event: RuleEvent,
    camera: CameraConfig,
    event_type: EventType,
    tz: ZoneInfo,
    snapshot: StoredSnapshot | None,
    place: tuple[AlertLocation | None, AlertGrid | None] | None = None,
    clip: AlertClip | None = None,
    public_url: str | None = None,
) -> Alert:
    """`place` is where the grid layer put the event; without it, the camera's position and declared grid.
    `public_url` (console.public_url) makes the snapshot's `href` absolute; the clip comes built."""
    if place is not None:
        location, grid = place
    else:
        location = (
            AlertLocation(lon=camera.location.lon, lat=camera.location.lat, method="camera")
            if camera.location
            else None
        )
        grid = grid_of(camera.grid)
    return Alert(
        alert_id=alert_id,
        site=site,
        event_type=event.event_type,
        code=event_type.code,
        name=event_type.name,
        name_en=event_type.name_en,
        severity=event.severity or event_type.severity.value,
        camera_id=camera.id,
        camera_name=camera.name or camera.id,
        zone=event.zone,
        started_at=iso(event.started_at, tz),
        detected_at=iso(event.detected_at, tz),
        confidence=min(1.0, max(0.0, event.confidence)),
        count=event.count,
        objects=[
            AlertObject(label=o.label, score=o.score, box=o.box, track_id=o.track_id) for o in event.objects
        ],
        location=location,
        grid=grid,
        snapshot=AlertSnapshot(
            url=snapshot.url, href=media_href(public_url, snapshot.url), sha256=snapshot.sha256
        )
        if snapshot
        else None,
        case_id=None,
        detail=event.detail,
        clip=clip,
        texts=[AlertText(text=t.text, score=t.score, box=t.box) for t in event.texts]
        if event.texts
        else None,
    )
