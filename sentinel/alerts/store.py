"""The alert store and its outbox: an alert is committed together with the message that announces it,
so a crash or a broker outage can delay a message but never lose it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from sentinel.alerts.models import AlertRow, OutboxRow, this_node
from sentinel.alerts.schema import Alert, AlertClip
from sentinel.storage.db import session_factory


@dataclass(frozen=True)
class OutboxItem:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = session_factory(engine)

    def record(
        self, alert: Alert, topic: str, snapshot_path: str | None, fence: Callable[[Session], None] | None = None
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

    def pending(self, after_id: int = 0, limit: int = 100) -> list[OutboxItem]:
        with self._session() as s:
            rows = s.scalars(
                select(OutboxRow)
                .where(OutboxRow.sent_at.is_(None), OutboxRow.id > after_id, *_mine())
                .order_by(OutboxRow.id)
                .limit(limit)
            ).all()
            return [OutboxItem(r.id, r.topic, r.payload.encode("utf-8"), r.qos, r.retain) for r in rows]

    def mark_attempted(self, ids: list[int]) -> None:
        if ids:
            with self._session.begin() as s:
                s.execute(
                    update(OutboxRow).where(OutboxRow.id.in_(ids)).values(attempts=OutboxRow.attempts + 1)
                )

    def mark_sent(self, ids: list[int]) -> None:
        if ids:
            with self._session.begin() as s:
                s.execute(update(OutboxRow).where(OutboxRow.id.in_(ids)).values(sent_at=datetime.now(UTC)))

    def outbox_depth(self) -> int:
        with self._session() as s:
            return int(
                s.scalar(
                    select(func.count()).select_from(OutboxRow).where(OutboxRow.sent_at.is_(None), *_mine())
                )
                or 0
            )

    def alert(self, alert_id: str) -> AlertRow | None:
        with self._session() as s:
            return s.get(AlertRow, alert_id)

    def alerts(self, limit: int = 100) -> list[AlertRow]:
        with self._session() as s:
            return list(s.scalars(select(AlertRow).order_by(AlertRow.detected_at.desc()).limit(limit)).all())


def _mine() -> list[Any]:
    """On a node of several, the outbox rows this node's publisher sends; on a single node, all of them."""
    node = this_node()
    return [] if node is None else [OutboxRow.node_id == node]
