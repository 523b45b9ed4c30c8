"""Every camera's current status as the daemon knows it, published retained on MQTT, and the
`camera_offline` alert for a camera that stays offline too long."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sentinel.alerts.builder import iso
from sentinel.cluster.camera_status import CameraStatusMessage
from sentinel.config.models import CameraConfig
from sentinel.detect.rules import RuleEvent
from sentinel.ingest.reader import CameraState, ReaderStatus
from sentinel.mqtt.publisher import MqttPublisher

log = logging.getLogger(__name__)


@dataclass
class CameraView:
    camera: CameraConfig
    worker: int
    status: ReaderStatus | None = None
    offline_since: float | None = None
    offline_alerted: bool = False
    note: str | None = None  # supervisor-level problem (worker restarting, failed)
    published_at: float = 0.0  # monotonic time of the last retained status


class CameraBoard:
    def __init__(
        self,
        tz: ZoneInfo,
        status_interval: float,
        publisher: MqttPublisher | None = None,
        listeners: Sequence[Callable[[dict[str, object]], object]] = (),
        node_id: str | None = None,
    ) -> None:
        """`listeners` hear every status published (the console's live feed); `node_id`: on a node of
        several, the node that runs the cameras. The views are the camera scheduler's to add and remove."""
        self.tz = tz
        self.status_interval = status_interval
        self.views: dict[str, CameraView] = {}
        self.publisher = publisher
        self.listeners = tuple(listeners)
        self.node_id = node_id

    def add(self, camera: CameraConfig, worker: int) -> None:
        self.views[camera.id] = CameraView(camera, worker)

    def remove(self, camera_id: str, keep_status: bool = False) -> CameraView:
        """Take the camera off the board; its retained status is cleared unless `keep_status` (it runs on
        another node next, which publishes its own)."""
        view = self.views.pop(camera_id)
        if self.publisher is not None and not keep_status:
            self.publisher.clear_retained(self.publisher.topics.camera_status(camera_id))
        return view

    def replace(self, camera: CameraConfig) -> None:
        view = self.views[camera.id]
        view.camera, view.status, view.offline_since, view.offline_alerted = camera, None, None, False

    def on_status(self, status: ReaderStatus) -> None:
        view = self.views.get(status.camera_id)
        if view is None:
            return  # a camera removed by a reload reporting its last words
        old = view.status
        changed = old is None or (old.state, old.error) != (status.state, status.error)
        view.status = status
        view.note = None
        if status.state is CameraState.offline:
            view.offline_since = view.offline_since or status.since
        elif status.state is CameraState.online:
            view.offline_since, view.offline_alerted = None, False
        if changed:
            log.info(
                "camera %s: %s%s", view.camera.id, status.state, f" ({status.error})" if status.error else ""
            )
        if changed or time.monotonic() - view.published_at >= self.status_interval:
            self.publish(view)

    def mark_down(self, camera_id: str, note: str) -> None:
        view = self.views.get(camera_id)
        if view is not None:
            view.note = note
            self.publish(view, override_state=CameraState.offline)

    def mark_worker_down(self, worker: int, note: str) -> None:
        for view in self.views.values():
            if view.worker == worker:
                self.mark_down(view.camera.id, note)

    def payload(self, view: CameraView, override_state: CameraState | None = None) -> dict[str, object]:
        """The camera's status message (`CameraStatusMessage`: what other nodes check it against)."""
        st = view.status
        state = override_state or (st.state if st else CameraState.connecting)
        return CameraStatusMessage(
            camera_id=view.camera.id,
            name=view.camera.name or view.camera.id,
            state=state,
            since=iso(st.since, self.tz) if st else None,
            fps=st.fps if st else 0.0,
            last_frame_at=iso(st.last_frame_at, self.tz) if st and st.last_frame_at else None,
            error=view.note or (st.error if st else None),
            decode_mode=st.decode_mode if st else None,
            analyze_fps=st.analyze_fps if st else None,
            decoded_share=st.decoded_share if st else None,
            decode_fps=st.decode_fps if st else 0.0,
            reader_cpu=st.reader_cpu if st else 0.0,
            reconnects=st.reconnects if st else 0,
            frames=st.frames_delivered if st else 0,
            worker=view.worker,
            node=self.node_id,
        ).to_dict()

    def publish(self, view: CameraView, override_state: CameraState | None = None) -> None:
        payload = self.payload(view, override_state)
        if self.publisher is not None:
            self.publisher.set_retained(self.publisher.topics.camera_status(view.camera.id), payload)
        for listener in self.listeners:
            listener(payload)
        view.published_at = time.monotonic()

    def all_stopped(self) -> None:
        for view in self.views.values():
            self.publish(view, override_state=CameraState.stopped)

    def offline_events(self, now: float) -> list[RuleEvent]:
        """`camera_offline` once per outage, for cameras offline longer than their `offline_alert_after`."""
        events = []
        for view in self.views.values():
            since = view.offline_since
            if since is None or view.offline_alerted or now - since < view.camera.offline_alert_after:
                continue
            view.offline_alerted = True
            error = view.status.error if view.status else None
            log.warning(
                "camera %s offline since %s: raising camera_offline (%s)",
                view.camera.id,
                iso(since, self.tz),
                error,
            )
            events.append(
                RuleEvent(
                    view.camera.id,
                    "camera_health",
                    "camera_offline",
                    None,
                    since,
                    now,
                    0,
                    1.0,
                    [],
                    None,
                    detail=error,
                )
            )
        return events

    def online_count(self) -> tuple[int, int]:
        """(cameras online without a supervisor-level problem, cameras on the board)."""
        views = list(self.views.values())
        online = sum(1 for v in views if v.note is None and v.status and v.status.state == "online")
        return online, len(views)

    def statuses(self) -> list[dict[str, object]]:
        return [self.payload(v) for v in list(self.views.values())]  # called from the console's thread
