"""What analysis workers tell the supervisor. Small and picklable: frames never cross the process boundary,
only detection events (with the alert's JPEG snapshot) and statuses. The analysis values they carry
(`ClipPlan`, `RuleEvent`, `ClipResult`) are the pipeline's."""

from __future__ import annotations

from dataclasses import dataclass, field

from sentinel.config.models import CameraConfig
from sentinel.detect.rules import RuleEvent
from sentinel.ingest.reader import ReaderStatus
from sentinel.pipeline.clips import ClipResult
from sentinel.pipeline.outcomes import ClipPlan


@dataclass(frozen=True)
class Heartbeat:
    worker: int
    ts: float
    frames_analysed: int  # frames run through tracker and rules (running total, all cameras)
    frames_dropped: int
    inference_ms: float  # median of the last batch window
    frames_inferred: int = 0  # of the analysed frames, those the detector ran on (the others: motion gate)
    # per camera: (frames analysed, of which inference skipped by the motion gate), running totals
    cameras: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class CameraStatusMsg:
    worker: int
    status: ReaderStatus


@dataclass(frozen=True)
class EventMsg:
    worker: int
    event: RuleEvent
    snapshot_jpeg: bytes | None  # privacy masks already applied
    alert_id: str | None = None  # picked by the worker, so a ClipMsg can follow; None: the supervisor picks
    clip: ClipPlan | None = None  # a clip is being written: the alert goes out with it `pending`


@dataclass(frozen=True)
class ClipMsg:
    """An alert's clip is written (`path`, under <data_dir>/clips/.incoming, for the supervisor to move) or
    could not be (`path` None); `state` ready / partial / failed, `error` says why it is not ready."""

    worker: int
    alert_id: str
    path: str | None
    sha256: str | None
    start: float | None
    end: float | None
    state: str
    error: str | None

    @classmethod
    def of(cls, worker: int, r: ClipResult) -> ClipMsg:
        path = str(r.path) if r.path is not None else None
        return cls(worker, r.alert_id, path, r.sha256, r.start, r.end, r.state, r.error)


@dataclass(frozen=True)
class WorkerFailed:
    """A fatal problem restarting will not fix (e.g. the model is missing)."""

    worker: int
    error: str


@dataclass(frozen=True)
class CameraFailed:
    """One camera cannot be analysed (e.g. its rule names a class the model lacks); the others go on."""

    worker: int
    camera_id: str
    error: str


@dataclass(frozen=True)
class ConditionMsg:
    """A rule's condition at a camera turned on or off (also repeated every few seconds while unchanged),
    so the supervisor can verify a case by camera: the place is clear once the condition stays off."""

    worker: int
    camera_id: str
    event_type: str
    zone: str | None
    active: bool
    ts: float


WorkerMessage = ConditionMsg | Heartbeat | CameraStatusMsg | EventMsg | ClipMsg | WorkerFailed | CameraFailed


# ---------------------------------------------------------------- supervisor → worker


@dataclass(frozen=True)
class AddCamera:
    camera: CameraConfig


@dataclass(frozen=True)
class RemoveCamera:
    camera_id: str


WorkerCommand = AddCamera | RemoveCamera
