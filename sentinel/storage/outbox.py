"""The MQTT outbox: messages committed with the change they announce and sent later, in order, by the
publisher (sentinel.mqtt.publisher). The table is `outbox` (revisions 0001 and 0005)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, Engine, Index, Integer, String, Text, delete, func, select, text, update
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from sentinel.storage.db import Base, session_factory


class OutboxRow(Base):
    __tablename__ = "outbox"
    __mapper_args__ = {"eager_defaults": False}
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # publish order
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[str] = mapped_column(Text)
    qos: Mapped[int] = mapped_column(Integer, default=1)
    retain: Mapped[bool] = mapped_column(default=False)
    # the alert it announces; its foreign key (ON DELETE CASCADE) is declared by sentinel.alerts.models,
    # which owns the alerts table: storage must work without the layers above it loaded
    alert_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    node_id: Mapped[str | None] = mapped_column(String(64), server_default=text("NULL"))  # whose publisher


@dataclass(frozen=True)
class OutboxItem:
    """A message waiting to be published."""

    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    """The queries the publisher drains the outbox with: pending rows oldest first, attempts, sent, depth.

    On a node of several (sentinel.cluster) only that node's rows are this publisher's; on a single node
    (`node_id` None) all of them are."""

    def __init__(self, engine: Engine, node_id: str | None = None) -> None:
        self.engine = engine
        self.node_id = node_id
        self._session = session_factory(engine)

    def _mine(self) -> list[ColumnElement[bool]]:
        return [] if self.node_id is None else [OutboxRow.node_id == self.node_id]

    def pending(self, after_id: int = 0, limit: int = 100) -> list[OutboxItem]:
        with self._session() as s:
            rows = s.scalars(
                select(OutboxRow)
                .where(OutboxRow.sent_at.is_(None), OutboxRow.id > after_id, *self._mine())
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
            count = s.scalar(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.sent_at.is_(None), *self._mine())
            )
            return int(count or 0)

    def prune_sent(self, keep_days: float, now: datetime | None = None, batch: int = 5000) -> int:
        """Delete rows sent more than `keep_days` ago (every node's: the leader prunes for the cluster), in
        batches so no transaction holds the table long; unsent rows stay whatever their age. Returns how
        many went."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
        old = select(OutboxRow.id).where(OutboxRow.sent_at.is_not(None), OutboxRow.sent_at < cutoff)
        removed = 0
        while True:
            with self._session.begin() as s:
                ids = list(s.scalars(old.order_by(OutboxRow.id).limit(batch)))
                if ids:
                    s.execute(delete(OutboxRow).where(OutboxRow.id.in_(ids)))
            removed += len(ids)
            if len(ids) < batch:
                return removed
