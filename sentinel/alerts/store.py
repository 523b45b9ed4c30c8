"""The alert store and its outbox: an alert is committed together with the message that announces it,
so a crash or a broker outage can delay a message but never lose it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from sentinel.alerts.models import AlertRow, node_sessions
from sentinel.alerts.schema import Alert, AlertClip
from sentinel.storage.outbox import Outbox, OutboxRow


class AlertStore(Outbox):
    """Alerts and the outbox rows that announce them; the outbox queries are sentinel.storage.outbox's."""

    def __init__(self, engine: Engine, node_id: str | None = None) -> None:
        """`node_id`: the node this process runs as (sentinel.cluster), None on a single node. The rows this
        store writes carry it, and its outbox queries see only that node's rows."""
        super().__init__(engine, node_id)
        self._session = self.sessions = node_sessions(engine, node_id)  # `sessions`: for the case engine too

    def record(
        self,
        alert: Alert,
        topic: str,
        snapshot_path: str | None,
        fence: Callable[[Session], None] | None = None,
    ) -> None:
        """Store the alert and queue its MQTT message in one transaction. `fence` runs first in that
        transaction and may raise to refuse it (a node that lost the camera's lease: sentinel.cluster)."""
        payload = alert.model_dump(mode="json", by_alias=True)
        now = datetime.now(UTC)
        with self._session.begin() as s:
            if fence is not None:
                fence(s)
            s.add(
                AlertRow(
                    id=alert.alert_id,
                    event_type=alert.event_type,
                    code=alert.code,
                    severity=alert.severity,
                    camera_id=alert.camera_id,
                    zone=alert.zone,
                    started_at=datetime.fromisoformat(alert.started_at),
                    detected_at=datetime.fromisoformat(alert.detected_at),
                    confidence=alert.confidence,
                    count=alert.count,
                    grid_code=alert.grid.grid if alert.grid else None,
                    snapshot_path=snapshot_path,
                    review_state="new",
                    payload=payload,
                    # the clip column only when there is a clip: a pre-0004 database still takes the rest
                    **({"clip": payload["clip"]} if alert.clip is not None else {}),
                )
            )
            s.flush()  # the alert row must exist before the outbox row that references it
            s.add(
                OutboxRow(
                    topic=topic,
                    payload=alert.to_json(),
                    qos=1,
                    retain=False,
                    alert_id=alert.alert_id,
                    created_at=now,
                    attempts=0,
                )
            )

    def update_clip(self, alert_id: str, clip: AlertClip, topic: str) -> Alert | None:
        """Record the alert's clip as it now is and queue the updated alert on `topic`, in one transaction;
        None if there is no such alert."""
        with self._session.begin() as s:
            row = s.get(AlertRow, alert_id)
            if row is None:
                return None
            payload = {**row.payload, "clip": clip.model_dump(mode="json")}
            alert = Alert.model_validate(payload)
            row.payload = payload
            row.clip = payload["clip"]
            s.add(
                OutboxRow(
                    topic=topic,
                    payload=alert.to_json(),
                    qos=1,
                    retain=False,
                    alert_id=alert_id,
                    created_at=datetime.now(UTC),
                    attempts=0,
                )
            )
            return alert

    def pending_clips(self, detected_after: datetime, detected_before: datetime) -> list[Alert]:
        """Alerts detected in the window whose clip is still `pending`."""
        with self._session() as s:
            rows = s.execute(
                select(AlertRow.payload, AlertRow.clip).where(
                    AlertRow.detected_at >= detected_after,
                    AlertRow.detected_at < detected_before,
                    AlertRow.clip.is_not(None),
                )
            ).all()
        return [
            Alert.model_validate(payload)
            for payload, clip in rows
            if isinstance(clip, dict) and clip.get("state") == "pending"
        ]

    def alert(self, alert_id: str) -> AlertRow | None:
        with self._session() as s:
            return s.get(AlertRow, alert_id)

    def alerts(self, limit: int = 100) -> list[AlertRow]:
        with self._session() as s:
            return list(s.scalars(select(AlertRow).order_by(AlertRow.detected_at.desc()).limit(limit)).all())
