"""The storage part's settings: where the database is, where alert media lives and for how long, and how long
sent MQTT messages are kept."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from sentinel.fields import ByteSize, EnvPath, Strict


class DatabaseConfig(Strict):
    url: str | None = Field(default=None, description="SQLAlchemy URL; unset: SQLite under data_dir")


class StorageConfig(Strict):
    data_dir: EnvPath = Path("var")
    snapshot_retention_days: int = Field(
        default=30, ge=1, description="alert media (snapshots and clips) older than this many days is deleted"
    )
    outbox_retention_days: int = Field(
        default=7,
        ge=1,
        description="MQTT outbox rows already sent are deleted after this many days "
        "(unsent rows are never deleted)",
    )
    max_media_bytes: ByteSize | None = Field(
        default=None,
        description="snapshots and clips together stay under this size (e.g. 50GB): oldest days go first; "
        "unset: no size limit",
    )
