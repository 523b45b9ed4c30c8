"""What one analysed frame of one camera comes to: typed values, no messages and no I/O. The worker turns
them into its queue messages, replay into alert lines, the evaluation into matches."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from sentinel.detect.detections import Detections
from sentinel.detect.rules import RuleEvent
from sentinel.pipeline.clips import ClipJob


def new_alert_id() -> str:
    """Picked where the event is seen, so the clip that follows later can name its alert."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class ClipPlan:
    """The clip an alert will get: from `start` to `end` (epoch seconds, the alert frame's clock)."""

    start: float
    end: float


@dataclass(frozen=True)
class RuleAlert:
    """A rule fired, with its evidence: the snapshot (None if it could not be made: the alert still goes
    out) and, on a camera with clips, the clip's plan and the job that writes it. Whoever sends the alert
    submits `clip_job` to its clip writer afterwards, so the clip never overtakes its alert."""

    event: RuleEvent
    alert_id: str
    snapshot_jpeg: bytes | None  # full resolution, privacy masks applied, boxes and zone drawn
    clip: ClipPlan | None = None
    clip_job: ClipJob | None = None


@dataclass(frozen=True)
class ConditionChange:
    """A rule's condition turned on or off, or the periodic repeat of an unchanged one (CONDITION_REPEAT):
    camera verification of a case reads these."""

    camera_id: str
    event_type: str
    zone: str | None
    active: bool
    ts: float


@dataclass(frozen=True)
class FrameOutcome:
    camera_id: str
    ts: float
    inferred: bool  # the detector ran on this frame (False: the motion gate reused the last detections)
    tracked: Detections  # what the rules saw, with track ids (the camera's first detector)
    alerts: tuple[RuleAlert, ...] = ()
    conditions: tuple[ConditionChange, ...] = ()
    tracked_by: Mapping[str, Detections] = field(default_factory=dict)  # every detector's, by name
