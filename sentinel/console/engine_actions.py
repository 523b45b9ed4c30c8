"""`ConsoleActions` over the real case engine: what the console's confirm / reject / case buttons do.

- confirm: the alert's case (filed already, or filed now: joining an open case of its type at the same place,
  else a new one) is confirmed (立案) by the user and routed by the roster to the grid worker;
- reject: the alert is a false positive; its case is rejected (注销) when it was waiting for review and no
  other alert of it still stands, otherwise the case goes on without it;
- case_action: `CaseEngine.act` with the user as actor;
- fresh_snapshot: one frame from the camera's stream with its zones drawn, privacy masks blacked out.
Every case change is announced on the live feed (kind `case`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import cv2
from sqlalchemy import select

from sentinel.alerts.models import AlertRow
from sentinel.alerts.schema import Alert
from sentinel.cases.authority import Actor
from sentinel.cases.engine import CaseChange, CaseEngine
from sentinel.cases.models import CaseAlertRow
from sentinel.cases.roster import Roster
from sentinel.cases.routing import routing_for
from sentinel.cases.state_machine import State
from sentinel.config.models import CameraConfig
from sentinel.console.deps import Conflict, NotFound, Unavailable
from sentinel.console.live import LiveFeed

log = logging.getLogger(__name__)


def zoned_snapshot(camera: CameraConfig, max_seconds: float = 15.0) -> bytes:
    """A JPEG of the camera's current view with its zones drawn and its privacy masks blacked out (last,
    over the drawing, as in alert snapshots); raises Unavailable with a masked reason."""
    from sentinel.detect.annotate import draw_overlay
    from sentinel.detect.privacy import privacy_mask_of
    from sentinel.ingest.snapshot_grab import grab_frame
    from sentinel.ingest.source import SourceError
    from sentinel.ingest.sources import source_for

    try:
        source = source_for(camera.source, camera_id=camera.id)
    except SourceError as exc:  # an unknown scheme; the message names the camera
        raise Unavailable(str(exc)) from None
    try:
        image = grab_frame(source, camera, max_seconds=max_seconds)
    except SourceError as exc:  # an unset ${VAR}
        raise Unavailable(f"camera {camera.id}: {exc}") from None
    except Exception as exc:
        raise Unavailable(f"camera {camera.id}: {source.describe_error(exc)}") from None
    drawn = draw_overlay(image, list(camera.zones), step=None) if camera.zones else image
    drawn = privacy_mask_of(camera).masked_copy(drawn)
    ok, buf = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise Unavailable(f"camera {camera.id}: the frame could not be encoded")
    return bytes(buf.tobytes())


class EngineActions:
    def __init__(
        self,
        engine: CaseEngine,
        *,
        live: LiveFeed | None = None,
        roster: Roster | None = None,
        cameras: Callable[[], Iterable[CameraConfig]] = tuple,
        snapshot_seconds: float = 15.0,
    ) -> None:
        self.engine = engine
        self.live = live
        self.roster = roster
        self.cameras = cameras
        self.snapshot_seconds = snapshot_seconds
        self._lock = threading.Lock()  # one review at a time: two operators on one alert cannot both win

    def _alert(self, alert_id: str) -> AlertRow:
        with self.engine.session_factory() as s:
            row = s.get(AlertRow, alert_id)
        if row is None:
            raise NotFound(f"no alert {alert_id}")
        if row.review_state != "new":
            raise Conflict(f"alert {alert_id} is already {row.review_state}")
        return row

    def _announce(self, changes: list[CaseChange]) -> None:
        if self.live is not None:
            for change in changes:
                self.live.publish("case", change.payload)

    def confirm_alert(self, alert_id: str, actor: str, note: str | None) -> list[CaseChange]:
        changes: list[CaseChange] = []
        with self._lock:
            row = self._alert(alert_id)
            case_id = row.case_id
            if case_id is None:
                alert = Alert.model_validate(row.payload)
                change = self.engine.on_alert(alert, routing_for(row.grid_code, self.roster))
                changes.append(change)
                case_id = change.case_id
            case = self.engine.get(case_id)
            if case is not None and case.state == State.pending_review:
                changes.append(self.engine.act(case_id, "confirm", actor, note))
        self._announce(changes)
        return changes

    def reject_alert(self, alert_id: str, actor: str, reason: str) -> list[CaseChange]:
        changes: list[CaseChange] = []
        with self._lock:
            row = self._alert(alert_id)
            case = self.engine.get(row.case_id) if row.case_id else None
            if (
                case is not None
                and case.state == State.pending_review
                and not self._others_stand(case.id, alert_id)
            ):
                changes.append(self.engine.act(case.id, "reject", actor, f"false positive: {reason}"))
        self._announce(changes)
        return changes

    def _others_stand(self, case_id: str, alert_id: str) -> bool:
        """Whether another alert of the case is not rejected."""
        with self.engine.session_factory() as s:
            joined = select(CaseAlertRow.alert_id).where(CaseAlertRow.case_id == case_id)
            others = s.scalars(
                select(AlertRow.review_state).where(AlertRow.id.in_(joined), AlertRow.id != alert_id)
            )
            return any(state != "rejected" for state in others)

    def case_action(
        self, case_id: str, action: str, actor: Actor | str, note: str | None, *,
        assignee: str | None = None, merge_into: str | None = None, extend_by: float | None = None,
    ) -> CaseChange:  # fmt: skip
        change = self.engine.act(
            case_id, action, actor, note, assignee=assignee, merge_into=merge_into, extend_by=extend_by
        )
        self._announce([change])
        return change

    def fresh_snapshot(self, camera_id: str) -> bytes | None:
        camera = next((c for c in self.cameras() if c.id == camera_id), None)
        if camera is None:
            raise NotFound(f"no camera {camera_id!r}")
        return zoned_snapshot(camera, self.snapshot_seconds)


class ReviewOnlyActions:
    """`ConsoleActions` for a daemon with `cases.enabled: false`: operators still confirm and reject alerts
    (the console records the review), but there are no cases to act on."""

    def __init__(
        self, cameras: Callable[[], Iterable[CameraConfig]] = tuple, snapshot_seconds: float = 15.0
    ) -> None:
        self.cameras = cameras
        self.snapshot_seconds = snapshot_seconds

    def confirm_alert(self, alert_id: str, actor: str, note: str | None) -> None:
        return None

    def reject_alert(self, alert_id: str, actor: str, reason: str) -> None:
        return None

    def case_action(
        self, case_id: str, action: str, actor: Actor | str, note: str | None, *,
        assignee: str | None = None, merge_into: str | None = None, extend_by: float | None = None,
    ) -> None:  # fmt: skip
        raise Unavailable("grid cases are disabled on this site (cases.enabled: false)")

    def fresh_snapshot(self, camera_id: str) -> bytes | None:
        camera = next((c for c in self.cameras() if c.id == camera_id), None)
        if camera is None:
            raise NotFound(f"no camera {camera_id!r}")
        return zoned_snapshot(camera, self.snapshot_seconds)
