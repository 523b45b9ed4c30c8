"""From a rule's event to a stored alert and, through the case engine, a grid case.

Order matters for "nothing is lost": the snapshot file is written first, then the alert and its outbox
row commit together, then the case engine files or joins a case (its own transaction, its own outbox row).
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sentinel.alerts.builder import build_alert, new_alert_id
from sentinel.alerts.schema import Alert
from sentinel.alerts.snapshot import SnapshotStore, StoredSnapshot
from sentinel.alerts.store import AlertStore
from sentinel.config import CameraConfig
from sentinel.detect.rules import RuleEvent
from sentinel.event_types import EventType
from sentinel.grid.case_engine import CaseEngine, Routing
from sentinel.grid.cells import GridCell, GridCells
from sentinel.grid.geolocate import Geolocator
from sentinel.grid.placement import place_event
from sentinel.grid.roster import Roster
from sentinel.grid.state_machine import CaseError

log = logging.getLogger(__name__)


def routing_for(cell: GridCell | None, grid_code: str | None, roster: Roster | None) -> Routing | None:
    """Who answers for the place: the grid's first worker, its leader, community and street duty."""
    code = cell.code if cell is not None else grid_code
    if code is None:
        return None
    people = roster.for_grid(code) if roster is not None else None
    return Routing(
        grid_code=code,
        community_code=code[:12] if len(code) >= 12 else None,
        street_code=code[:9],
        worker_id=people.workers[0].id if people and people.workers else None,
        grid_leader_id=people.leader.id if people and people.leader else None,
        community_duty_id=people.community_duty[0].id if people and people.community_duty else None,
        street_duty_id=people.street_duty[0].id if people and people.street_duty else None,
    )


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
    ) -> None:
        self.site = site
        self.prefix = prefix
        self.tz = tz
        self.store = store
        self.snapshots = snapshots
        self.event_types = event_types
        self.cases = cases
        self.cells: GridCells | None = None
        self.roster: Roster | None = None
        self.geolocator: Geolocator | None = None
        self.stored = 0

    def accept(self, event: RuleEvent, jpeg: bytes | None, camera: CameraConfig) -> Alert | None:
        event_type = self.event_types.get(event.event_type)
        if event_type is None:
            log.error("dropping event of unknown type %s from camera %s", event.event_type, event.camera_id)
            return None
        alert_id = new_alert_id()
        snapshot: StoredSnapshot | None = None
        if jpeg is not None:
            try:
                snapshot = self.snapshots.save(
                    alert_id, jpeg, datetime.fromtimestamp(event.detected_at, self.tz)
                )
            except OSError as exc:  # disk full or unwritable: the alert matters more than its picture
                log.error("cannot write snapshot for alert %s: %s", alert_id, exc)
        location, grid, cell = place_event(self.geolocator, self.cells, camera, event.objects)
        alert = build_alert(
            alert_id, self.site, event, camera, event_type, self.tz, snapshot, place=(location, grid)
        )
        topic = f"{self.prefix}/alerts/{event.event_type}/{event.camera_id}"
        self.store.record(alert, topic, str(snapshot.path) if snapshot else None)
        self.stored += 1
        log.info(
            "alert %s %s (%s) on camera %s%s: count %d",
            alert_id, event_type.id, event_type.name, event.camera_id,
            f" in grid {grid.grid} {grid.name or ''}" if grid else "", event.count,
        )  # fmt: skip
        if self.cases is not None:
            try:
                change = self.cases.on_alert(
                    alert, routing_for(cell, grid.grid if grid else None, self.roster)
                )
                log.info("case %s: %s (%s)", change.number, change.state, change.action)
            except CaseError as exc:
                log.error("case for alert %s: %s", alert_id, exc.reason)
        return alert
