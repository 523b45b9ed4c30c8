"""What the console needs from the daemon, in one object: `create_app(ConsoleDeps(...))`.

The console reads the database itself (alerts, cases, users) and asks the daemon, through `actions`, to change
anything that the case engine owns, so every change goes through the same engine, outbox and log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from sentinel.cases.authority import Actor
from sentinel.cases.roster import Roster
from sentinel.config.event_types import EventType, effective_event_types
from sentinel.config.models import CameraConfig, SentinelConfig
from sentinel.console.live import LiveFeed
from sentinel.console.metrics import SentinelMetrics
from sentinel.console.passwords import SCRYPT_COST, ScryptCost
from sentinel.console.users import Users
from sentinel.geo.cells import GridCells
from sentinel.storage.db import session_factory


class ConsoleActions(Protocol):
    """The changes the console asks of the daemon. `actor` is the console user ("user:<name>", a trusted
    operator) or a field user's roster `Actor` (the engine checks what they may do); the case log records it. Raise `ActionError` (or the case engine's `CaseError`) with a reason a person can act on."""

    def confirm_alert(self, alert_id: str, actor: str, note: str | None) -> object: ...

    def reject_alert(self, alert_id: str, actor: str, reason: str) -> object: ...

    def case_action(
        self, case_id: str, action: str, actor: Actor | str, note: str | None, *,
        assignee: str | None = None, merge_into: str | None = None, extend_by: float | None = None,
    ) -> object: ...  # fmt: skip

    def fresh_snapshot(self, camera_id: str) -> bytes | None:
        """A JPEG of the camera's current view with its zones drawn; None when no frame can be had now."""
        ...


class ActionError(Exception):
    """A refused action; `status` is the HTTP status the API answers with."""

    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ActionError):
    status = 404


class Conflict(ActionError):
    status = 409


class Invalid(ActionError):
    status = 422


class Unavailable(ActionError):
    status = 503


def _no_cameras() -> list[dict[str, Any]]:
    return []


@dataclass
class ConsoleDeps:
    engine: Engine
    config: SentinelConfig  # site (id, name, time zone), storage.data_dir (/media), console (cookies)
    actions: ConsoleActions
    live: LiveFeed = field(default_factory=LiveFeed)
    # the cameras' status, as published on MQTT (camera_id, name, state, since, fps, last_frame_at, error,
    # decode_mode, decoded_share, decode_fps, reader_cpu, analyze_fps, reconnects, frames, worker) and
    # optionally "zones": [{"name", "polygon"}]
    camera_status: Callable[[], list[dict[str, Any]]] = _no_cameras
    cells: GridCells | None = None
    roster: Roster | None = None
    # the camera registry as it stands now (it changes on a reload); None: the config's cameras
    cameras: Callable[[], Iterable[CameraConfig]] | None = None
    metrics: SentinelMetrics = field(default_factory=SentinelMetrics)
    broker_connected: Callable[[], bool] | None = None  # None: no broker to report on
    # on a cluster (PostgreSQL): the nodes as `sentinel nodes` lists them; None on a single node
    nodes: Callable[[], list[dict[str, Any]]] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # scrypt's cost for new password hashes: the daemon never sets it; only the test suite passes a cheaper
    # one, so that a test does not spend half a second on every user it adds (console/passwords.py)
    password_cost: ScryptCost = SCRYPT_COST
    sessions: sessionmaker[Session] = field(init=False)
    users: Users = field(init=False)
    event_types: Mapping[str, EventType] = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine)
        self.users = Users(
            self.sessions, self.clock, password_cost=self.password_cost,
            token_lifetime=timedelta(seconds=self.config.console.token_lifetime),
        )  # fmt: skip
        self.event_types = effective_event_types(self.config.event_types)

    def camera_configs(self) -> list[CameraConfig]:
        return list(self.cameras()) if self.cameras is not None else list(self.config.cameras)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.site.timezone)

    @property
    def data_dir(self) -> Path:
        return self.config.storage.data_dir

    @property
    def secure_cookies(self) -> bool:
        return self.config.console.secure_cookies
