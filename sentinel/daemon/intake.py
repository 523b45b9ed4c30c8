"""From a rule's event to a stored alert and, through the case engine, a grid case.

Order matters for "nothing is lost": the snapshot file is written first, then the alert and its outbox
row commit together, then the case engine files or joins a case (its own transaction, its own outbox row).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from sentinel.alerts.builder import build_alert, iso, new_alert_id, pending_clip
from sentinel.alerts.clip import clip_day, clip_url
from sentinel.alerts.links import media_href
from sentinel.alerts.schema import Alert, AlertClip
from sentinel.alerts.snapshot import SnapshotStore, StoredSnapshot
from sentinel.alerts.store import AlertStore
from sentinel.cases.engine import CaseEngine
from sentinel.cases.roster import Roster
from sentinel.cases.routing import routing_for
from sentinel.cases.state_machine import CaseError
from sentinel.cluster.leases import LeaseLost
from sentinel.config.event_types import EventType
from sentinel.config.models import CameraConfig
from sentinel.daemon.messages import ClipMsg
from sentinel.detect.rules import RuleEvent
from sentinel.geo.cells import GridCells
from sentinel.geo.geolocate import Geolocator
from sentinel.geo.placement import place_event
from sentinel.mqtt.topics import TopicError, Topics
from sentinel.pipeline import ClipPlan
from sentinel.storage.private import private_dir

log = logging.getLogger(__name__)


class AlertIntake:
    def __init__(
        self,
        site: str,
        prefix: str,
        tz: ZoneInfo,
        store: AlertStore,
        snapshots: SnapshotStore,
        event_types: dict[str, EventType],
        cases: CaseEngine | None,
        *,
        cells: GridCells | None = None,
        roster: Roster | None = None,
        geolocator: Geolocator | None = None,
        public_url: str | None = None,
    ) -> None:
        """`public_url` (console.public_url): alerts also carry absolute links to their snapshot and clip."""
        self.site = site
        self.topics = Topics(prefix)
        self.tz = tz
        self.store = store
        self.snapshots = snapshots
        self.event_types = event_types
        self.cases = cases
        self.cells = cells
        self.roster = roster
        self.geolocator = geolocator
        self.public_url = public_url
        self.stored = 0

    def relocate(self, geolocator: Geolocator) -> None:
        """Cameras' homographies and positions as the reloaded registry has them."""
        self.geolocator = geolocator

    def accept(
        self,
        event: RuleEvent,
        jpeg: bytes | None,
        camera: CameraConfig,
        alert_id: str | None = None,
        clip: ClipPlan | None = None,
        fence: Callable[[Session], None] | None = None,
    ) -> Alert | None:
        """`alert_id` as the worker picked it (else a new one); `clip`: a clip is on its way (ClipMsg);
        `fence`: on a node of several, refuses the alert if this node no longer holds the camera's lease."""
        event_type = self.event_types.get(event.event_type)
        if event_type is None:
            log.error("dropping event of unknown type %s from camera %s", event.event_type, event.camera_id)
            return None
        try:
            topic = self.topics.alert(event.event_type, event.camera_id)
        except TopicError as exc:  # config validation keeps ids clean; never publish under a forged name
            log.error("dropping event from camera %s: %s", event.camera_id[:80], exc)
            return None
        alert_id = alert_id or new_alert_id()
        snapshot: StoredSnapshot | None = None
        if jpeg is not None:
            try:
                snapshot = self.snapshots.save(
                    alert_id, jpeg, datetime.fromtimestamp(event.detected_at, self.tz)
                )
            except OSError as exc:  # disk full or unwritable: the alert matters more than its picture
                log.error("cannot write snapshot for alert %s: %s", alert_id, exc)
        location, grid, cell = place_event(self.geolocator, self.cells, camera, event.objects)
        pending = None
        if clip is not None:  # the worker is writing it: the alert goes out with the clip `pending`
            pending = pending_clip(
                alert_id, event.detected_at, clip.start, clip.end, self.tz, self.public_url
            )
        alert = build_alert(
            alert_id, self.site, event, camera, event_type, self.tz, snapshot, place=(location, grid),
            clip=pending, public_url=self.public_url,
        )  # fmt: skip
        try:
            self.store.record(alert, topic, str(snapshot.path) if snapshot else None, fence)
        except LeaseLost as exc:  # another node runs this camera now: its alerts are that node's to raise
            log.warning("alert %s not stored: %s", alert_id, exc)
            if snapshot is not None:
                with contextlib.suppress(OSError):
                    snapshot.path.unlink()
            return None
        self.stored += 1
        log.info(
            "alert %s %s (%s) on camera %s%s: count %d",
            alert_id, event_type.id, event_type.name, event.camera_id,
            f" in grid {grid.grid} {grid.name or ''}" if grid else "", event.count,
        )  # fmt: skip
        if self.cases is not None:
            try:
                change = self.cases.on_alert(
                    alert,
                    routing_for(cell.code if cell is not None else grid.grid if grid else None, self.roster),
                )
                deadline = change.payload.get("deadline") or {}
                log.info(
                    "case %s: %s (%s), held by %s, due %s", change.number, change.state, change.action,
                    change.payload.get("assignee") or "nobody", deadline.get("deadline_at") or "-",
                )  # fmt: skip
            except CaseError as exc:
                log.error("case for alert %s: %s", alert_id, exc.reason)
        return alert

    # ---------------------------------------------------------------- clips (they follow their alert)

    @property
    def data_dir(self) -> Path:
        return self.snapshots.root.parent

    def accept_clip(self, msg: ClipMsg) -> Alert | None:
        """A worker finished (or gave up on) an alert's clip: move the file next to the snapshot's day,
        record the clip on the alert and announce it on `.../alerts/{type}/{camera}/clip`."""
        alert = self.store.alert(msg.alert_id)
        staged = Path(msg.path) if msg.path else None
        if alert is None:
            log.error("clip for unknown alert %s dropped", msg.alert_id)
            if staged is not None:
                staged.unlink(missing_ok=True)
            return None
        planned = alert.payload.get("clip") or {}
        detected = datetime.fromisoformat(alert.payload["detected_at"]).astimezone(self.tz)
        url: str | None = planned.get("url") or clip_url(clip_day(detected), msg.alert_id)
        state, error = msg.state, msg.error
        staging = (self.data_dir / "clips" / ".incoming").resolve()
        if staged is not None and staged.resolve().parent != staging:
            log.error("clip of alert %s: %s is not in the clip staging folder; ignored", msg.alert_id, staged)
            state, error, staged = "failed", "the clip was written outside the media folder", None
        if staged is not None and url is not None:
            final = self.data_dir / url.removeprefix("/media/")
            try:
                private_dir(final.parent)
                os.replace(staged, final)
            except OSError as exc:
                log.error("cannot store the clip of alert %s: %s", msg.alert_id, exc)
                with contextlib.suppress(OSError):
                    staged.unlink()
                state, error = "failed", f"cannot store the clip: {exc}"
        if state == "failed":
            url = None
        clip = AlertClip(
            url=url,
            href=media_href(self.public_url, url),
            sha256=msg.sha256 if url else None,
            start=iso(msg.start, self.tz) if msg.start is not None else None,
            end=iso(msg.end, self.tz) if msg.end is not None else None,
            state=state,
            error=error,
        )
        topic = self.topics.alert_clip(alert.event_type, alert.camera_id)
        updated = self.store.update_clip(msg.alert_id, clip, topic)
        log.info(
            "alert %s: clip %s%s", msg.alert_id, state, f" ({error})" if error else "",
        )  # fmt: skip
        return updated

    def fail_stale_clips(self, now: datetime, after: timedelta = timedelta(minutes=10)) -> int:
        """Clips still pending long after their alert (the worker died or was stopped first) are failed,
        so no alert waits for a clip for ever. `now` in the site's time zone (as alerts are stored)."""
        stale = self.store.pending_clips(now - timedelta(days=2), now - after)
        for alert in stale:
            self.accept_clip(
                ClipMsg(
                    -1,
                    alert.alert_id,
                    None,
                    None,
                    None,
                    None,
                    "failed",
                    "the analysis worker stopped before the clip was written",
                )  # fmt: skip
            )
        return len(stale)
