"""What the other nodes of a cluster publish, heard back from the broker for this node's console: camera
statuses (for `/api/cameras`), alerts and cases (for the live feed).

Anyone who may publish on the broker can put anything on those topics, retained even. So every message is
checked against the model it is published from -- `CameraStatusMessage`, `Alert` (`sentinel.alert/1`),
`CaseMessage` (`sentinel.case/1`) -- and against its own topic (the camera, event type, case and grid the
topic names). What fails is dropped with a log line (one per topic per minute at most) and goes nowhere.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from sentinel.alerts.schema import Alert
from sentinel.cases.payload import CaseMessage
from sentinel.cluster.camera_status import CameraStatusMessage
from sentinel.mqtt.topics import AlertTopic, CameraStatusTopic, CaseTopic, ParsedTopic, Topics

log = logging.getLogger(__name__)

LOG_EVERY = 60.0  # seconds: at most one line per topic about its invalid messages
MAX_TOPICS_LOGGED = 1000  # topics remembered for that; more (a flood of made-up topics) start the count again


class Invalid(ValueError):
    """A message that is not what its topic says it is; the message says why."""


class DropLog:
    """One log line per topic per `every` seconds about dropped messages, with the count in between."""

    def __init__(self, every: float = LOG_EVERY) -> None:
        self._every = every
        self._topics: dict[str, tuple[float, int]] = {}  # topic -> (when last logged, dropped since)
        self.dropped = 0

    def __call__(self, topic: str, reason: str) -> None:
        self.dropped += 1
        now = time.monotonic()
        last, since = self._topics.get(topic, (None, 0))
        if last is not None and now - last < self._every:
            self._topics[topic] = (last, since + 1)
            return
        if len(self._topics) >= MAX_TOPICS_LOGGED:
            self._topics.clear()
        self._topics[topic] = (now, 0)
        more = f" ({since} more since the last line)" if since else ""
        log.warning("dropping an invalid message on %s: %s%s", topic[:300], reason[:300], more)


def check_message(about: ParsedTopic, payload: bytes) -> BaseModel | None:
    """The message on a camera status, alert or case topic as its model (None: an empty payload, a cleared
    retained status). Raises Invalid."""
    if not payload:
        return None
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("not JSON") from None
    model: type[BaseModel]
    if isinstance(about, CameraStatusTopic):
        model = CameraStatusMessage
    elif isinstance(about, AlertTopic):
        model = Alert
    elif isinstance(about, CaseTopic):
        model = CaseMessage
    else:
        raise Invalid(f"no model for {type(about).__name__}")
    try:
        message = model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the message"
        raise Invalid(
            f"not a {model.__name__}: {where}: {first['msg']} ({exc.error_count()} errors)"
        ) from None
    _check_topic(about, message)
    return message


def _check_topic(about: ParsedTopic, message: BaseModel) -> None:
    named: dict[str, tuple[str | None, str | None]]
    if isinstance(message, CameraStatusMessage) and isinstance(about, CameraStatusTopic):
        named = {"camera_id": (message.camera_id, about.camera_id)}
    elif isinstance(message, Alert) and isinstance(about, AlertTopic):
        named = {
            "camera_id": (message.camera_id, about.camera_id),
            "event_type": (message.event_type, about.event_type),
        }
    elif isinstance(message, CaseMessage) and isinstance(about, CaseTopic):
        named = {"case_id": (message.case_id, about.case_id), "grid": (message.grid.grid, about.grid_code)}
    else:
        return
    for field, (said, topic_says) in named.items():
        if said != topic_says:
            raise Invalid(f"its {field} {_short(said)} is not the topic's {_short(topic_says)}")


class HeardFromCluster:
    """The other nodes' camera statuses, and their alerts and cases passed on to this node's live feed."""

    def __init__(
        self,
        prefix: str,
        runs_here: Callable[[str], bool],
        known_cameras: Callable[[], set[str]],
        local_statuses: Callable[[], list[dict[str, Any]]],
        announce: Callable[[str, dict[str, Any]], object],
    ) -> None:
        """`runs_here(camera_id)`: this node runs it (its own status and alerts reach the console directly);
        `known_cameras()`: the registry's ids; `local_statuses()`: this node's cameras' statuses;
        `announce(kind, payload)`: this node's live feed."""
        self._topics = Topics(prefix)
        self._runs_here = runs_here
        self._known = known_cameras
        self._local = local_statuses
        self._announce = announce
        self._remote: dict[str, dict[str, Any]] = {}  # camera id -> its last valid status
        self.drop = DropLog()

    def heard(self, topic: str, payload: bytes) -> bool:
        """Take in one message; False for what is not a camera status, an alert or a case (case commands).
        This node's own messages come back too: the console tolerates repeats."""
        about = self._topics.parse(topic)
        if not isinstance(about, CameraStatusTopic | AlertTopic | CaseTopic):
            return False
        if isinstance(about, AlertTopic) and about.clip:
            return True  # not subscribed; the console hears of clips from the node that wrote them
        try:
            message = check_message(about, payload)
        except Invalid as exc:
            self.drop(topic, str(exc))
            return True
        if isinstance(about, CameraStatusTopic):
            self._camera(about.camera_id, message)
        elif isinstance(message, Alert):
            if not self._runs_here(message.camera_id):
                self._announce("alert", message.model_dump(mode="json", by_alias=True))
        elif isinstance(message, CaseMessage):
            self._announce("case", message.to_dict())
        return True

    def _camera(self, camera_id: str, message: BaseModel | None) -> None:
        old = self._remote.pop(camera_id, None)
        if not isinstance(message, CameraStatusMessage) or camera_id not in self._known():
            return  # cleared, or not a camera of the registry (kept nowhere: made-up ids are endless)
        status = self._remote[camera_id] = message.to_dict()
        if not self._runs_here(camera_id) and (old or {}).get("state") != status["state"]:
            self._announce("camera", status)

    def camera_statuses(self) -> list[dict[str, Any]]:
        """Every camera of the registry: this node's own, the others' last published status."""
        local = self._local()
        seen = {str(c["camera_id"]) for c in local}
        known = self._known()
        remote = [dict(st) for cid, st in list(self._remote.items()) if cid not in seen and cid in known]
        return local + remote


def _short(value: str | None) -> str:
    return "none" if value is None else repr(value[:80])
