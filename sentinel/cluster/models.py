"""ORM rows of the cluster tables (revision 0005): nodes, camera leases and named locks (the leader lease)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.storage.db import Base


class NodeRow(Base):
    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # renewed with the leases
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # clean shutdown
    lease_ttl: Mapped[float] = mapped_column(Float)
    max_cameras: Mapped[int] = mapped_column(Integer)
    console_url: Mapped[str | None] = mapped_column(String(255))


class CameraLeaseRow(Base):
    __tablename__ = "camera_leases"
    __table_args__ = (Index("ix_camera_leases_node", "node_id"),)

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_id: Mapped[str | None] = mapped_column(String(64))  # None: free
    epoch: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0"
    )  # +1 at every claim: the fencing token
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acquired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    renewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ClusterLockRow(Base):
    __tablename__ = "cluster_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # "leader"
    node_id: Mapped[str | None] = mapped_column(String(64))
    epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
