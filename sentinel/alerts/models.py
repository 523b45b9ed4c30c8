"""ORM rows for alerts (the outbox rows are sentinel.storage.outbox). An alert and its outbox row are written
in one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Engine, Float, ForeignKeyConstraint, Integer, String, event, text
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from sentinel.storage.db import Base, session_factory
from sentinel.storage.outbox import OutboxRow  # re-exported: the outbox rows live in storage


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


# an outbox row announcing an alert goes with it (revision 0001); declared here, beside the alerts table it
# names, because the outbox (sentinel.storage) sits below alerts and knows nothing of them
Base.metadata.tables["outbox"].append_constraint(
    ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE")
)


def node_sessions(engine: Engine, node_id: str | None) -> sessionmaker[Session]:
    """Sessions for a process that runs as `node_id` (sentinel.cluster): every alert and outbox row they insert
    carries it, so each node's publisher drains only its own rows and a dead node's rows can be handed to a
    live one (sentinel.cluster.leader). On a single node (None) the column is left out of the INSERT, so the
    store still writes to a database from before revision 0005 (as the migration tests do)."""
    sessions = session_factory(engine)
    if node_id is None:
        return sessions

    def stamp(session: Session, _context: object, _instances: object) -> None:
        for row in session.new:
            if isinstance(row, AlertRow | OutboxRow) and row.node_id is None:
                row.node_id = node_id

    event.listen(sessions, "before_flush", stamp)  # on this factory only: no process-wide state
    return sessions
