"""The camera status message, published retained on `{prefix}/cameras/<camera_id>/status`: built by the
daemon's camera board through this model, and read back through it by every node of a cluster (what comes in
from the broker is checked against it before the console shows it: `sentinel.cluster.heard`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sentinel.alerts.schema import Timestamp
from sentinel.ingest.reader import CameraState


class CameraStatusMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera_id: str = Field(min_length=1, max_length=200)
    name: str
    state: CameraState
    since: Timestamp | None = Field(description="when the camera entered this state")
    fps: float = Field(ge=0, description="frames handed on for analysis per second")
    last_frame_at: Timestamp | None
    error: str | None
    decode_mode: str | None
    analyze_fps: float | None = Field(
        default=None, ge=0, description="the analysis rate asked for now (adaptive: lower while still)"
    )
    # what the decode path costs (defaults: a message from a node that does not report them yet)
    decoded_share: float | None = Field(default=None, ge=0, description="share of the packets decoded")
    decode_fps: float = Field(default=0.0, ge=0, description="frames decoded per second")
    reader_cpu: float = Field(default=0.0, ge=0, description="the reader thread's CPU seconds per second")
    reconnects: int = Field(ge=0)
    frames: int = Field(ge=0, description="frames handed on for analysis")
    worker: int | None = Field(ge=0, description="the analysis worker of its node")
    node: str | None = Field(description="on a node of several: the node that runs the camera")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
