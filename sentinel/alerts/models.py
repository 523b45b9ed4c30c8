"""ORM rows for alerts and the MQTT outbox. An alert and its outbox row are written in one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, event, text
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.storage.db import Base

# The node (sentinel.cluster) this process runs as; None on a single node. Every outbox row and alert this
# process writes carries it: each node's publisher drains only its own rows, and rows of a node that died are
# handed to a live one (sentinel.cluster.leader_jobs).
_this_node: str | None = None


def set_this_node(node_id: str | None) -> None:
    global _this_node
    _this_node = node_id


def this_node() -> str | None:
    return _this_node


class AlertRow(Base):
    __tablename__ = "alerts"
    __mapper_args__ = {"eager_defaults": False}  # never RETURNING node_id: older databases lack it

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # alert_id, a UUID
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    zone: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer)
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    snapshot_path: Mapped[str | None] = mapped_column(String(512))
    review_state: Mapped[str] = mapped_column(String(16), default="new")  # new / confirmed / rejected
    case_id: Mapped[str | None] = mapped_column(String(36))
    payload: Mapped[dict] = mapped_column(JSON)  # the published alert JSON (sentinel.alert/1)
    # the clip's state as last published ({url, sha256, start, end, state, error}); deferred: not loaded
    # unless asked for, so code reading alerts works on a database not yet migrated to 0004
    clip: Mapped[dict | None] = mapped_column(JSON, nullable=True, deferred=True)
    # the node that stored it (multi-node); deferred for the same reason (added by 0005)
    node_id: Mapped[str | None] = mapped_column(String(64), deferred=True, server_default=text("NULL"))


class OutboxRow(Base):
    __tablename__ = "outbox"
    __mapper_args__ = {"eager_defaults": False}
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # publish order
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[str] = mapped_column(Text)
    qos: Mapped[int] = mapped_column(Integer, default=1)
    retain: Mapped[bool] = mapped_column(default=False)
    alert_id: Mapped[str | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    node_id: Mapped[str | None] = mapped_column(String(64), server_default=text("NULL"))  # whose publisher


@event.listens_for(AlertRow, "before_insert")
@event.listens_for(OutboxRow, "before_insert")
def _stamp_node(_mapper: object, _conn: object, row: AlertRow | OutboxRow) -> None:
    """Rows written by a node of several carry its id; on a single node the column is left out of the INSERT
    (so the store still writes to a database from before revision 0005, as the migration tests do)."""
    if _this_node is not None and row.node_id is None:
        row.node_id = _this_node
