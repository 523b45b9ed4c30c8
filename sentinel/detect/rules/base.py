"""What every rule shares: its parameters' common fields, what it may use, the event it emits, the `Rule`
protocol, and the debounce/cooldown episode logic."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
from pydantic import Field

from sentinel.detect.detections import Detections
from sentinel.detect.schedule import ArmedWindow
from sentinel.detect.settings import DETECTOR_NAME
from sentinel.detect.text_reader import TextLine
from sentinel.detect.tracker import MotionTracker
from sentinel.fields import Seconds, Strict

RULE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class RuleParams(Strict):
    """The fields every rule kind's parameter model starts with. A kind's model adds
    `kind: Literal["<kind>"]` (the tag of the config's `rules:` union) and its own parameters."""

    if TYPE_CHECKING:  # declared for the type checker only: each kind declares its Literal (field order)
        kind: str

    event_type: str
    name: str | None = Field(
        default=None,
        pattern=RULE_NAME,
        description="the rule's name on its camera (unique there); a parameter profile names it by this",
    )
    zone: str | None = Field(default=None, description="zone name; unset: the whole frame")
    cooldown: Seconds = Field(default=300.0, description="after an alert, stay quiet this long")
    detector: str | None = Field(
        default=None,
        pattern=DETECTOR_NAME,
        description="the detector whose boxes this rule reads (`default` or a key of `detectors:`); "
        "unset: the camera's",
    )
    schedule: list[ArmedWindow] = Field(
        default_factory=list,
        description='armed only within these windows, site time ([{days: [mon, ...], from: "07:00", to: '
        '"22:00"}]; `to` before `from`: into the next day); unset: always armed',
    )


@dataclass(frozen=True)
class RuleEnv:
    """What a rule may need besides its own parameters."""

    camera_id: str
    class_names: list[str]  # the detector's classes, index = class id
    state_dir: Path | None = None  # per-camera folder for lasting state (e.g. a reference view); None: memory


@dataclass(frozen=True)
class SeenObject:
    label: str
    score: float
    box: tuple[float, float, float, float]  # normalised xyxy
    track_id: int = -1


@dataclass(frozen=True)
class RuleEvent:
    """A rule fired: small, picklable, crosses the worker → supervisor queue (no frames)."""

    camera_id: str
    rule_kind: str
    event_type: str
    zone: str | None
    started_at: float  # when the condition began (epoch s)
    detected_at: float  # when it had held long enough (epoch s)
    count: int
    confidence: float
    objects: list[SeenObject] = field(default_factory=list)
    zone_polygon: list[tuple[float, float]] | None = None
    detail: str | None = None
    severity: Literal["minor", "normal", "major", "urgent"] | None = (
        None  # the rule's own verdict (e.g. a large crowd); None: the event type's
    )
    texts: tuple[TextLine, ...] = ()  # text the rule read in the picture (OCR), evidence for the alert


@dataclass(frozen=True)
class FrameContext:
    """Everything a rule may look at for one analysed frame of one camera."""

    camera_id: str
    ts: float  # capture time, epoch seconds
    dets: Detections  # tracked (track_id set), boxes normalised
    image: np.ndarray | None = None  # BGR uint8; rules that model the background need it
    tracker: MotionTracker | None = None  # stationarity and first-seen per track id


class Rule(Protocol):
    """What the pipeline needs of a rule. `uses_image`: False when the rule reads only the tracked boxes, so
    the analysis picture need not be converted for a camera whose rules all say so."""

    kind: str
    event_type: str
    zone: str | None
    uses_image: bool

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None: ...

    @property
    def active(self) -> bool:
        """The rule's condition holds now (an episode is open). Camera verification of a case reads this:
        the place is clear once the rule that raised the case stays inactive for N checks."""
        ...


class Rearmable(Protocol):
    """A rule whose schedule has just armed it again (optional; `sentinel.pipeline.schedules`). It forgets
    every episode, candidate and alert of before and counts anything already present from `ts`, but keeps
    what it learnt of the scene (a background model, a reference view). A rule without `rearm` is rebuilt
    from its parameters instead."""

    def rearm(self, ts: float) -> None: ...


class Retunable(Protocol):
    """A rule that can take new parameter values (a profile switch) and keep its state (optional). Returns
    False when the change needs a fresh rule (the pipeline then rebuilds it)."""

    def retune(self, params: RuleParams) -> bool: ...


class Episode:
    """Debounce, hysteresis and cooldown for a condition that is true or false on each analysed frame.

    An episode starts when the condition first holds; it fires once when it has held `min_duration`;
    it ends only after the condition has been absent for `clear_after` (so a missed detection in one
    frame does not split one gathering into two); after firing, nothing fires again until `cooldown`.
    A rule that sees its condition only some time after it began (a background model's lag) passes `since`,
    the moment the condition first held: the episode is backdated to it, so `min_duration` counts from there.
    """

    def __init__(self, min_duration: float, cooldown: float, clear_after: float) -> None:
        self.min_duration = min_duration
        self.cooldown = cooldown
        self.clear_after = clear_after
        self.started_at: float | None = None
        self.last_true: float | None = None
        self.fired = False
        self.last_fired: float | None = None

    def update(self, ts: float, holding: bool, sustaining: bool, since: float | None = None) -> bool:
        """`holding`: the firing condition; `sustaining`: the (weaker) condition that keeps an episode open;
        `since`: when the condition first held, if before `ts` (an open episode is moved back to it, never
        forward). Returns True at the one moment the episode fires."""
        if self.started_at is not None and (sustaining or holding):
            self.last_true = ts
        elif (
            self.started_at is not None
            and self.last_true is not None
            and ts - self.last_true >= self.clear_after
        ):
            self.started_at, self.fired = None, False
        if self.started_at is None and holding:
            self.started_at, self.last_true, self.fired = ts, ts, False
        if self.started_at is not None and holding and since is not None and not self.fired:
            self.started_at = min(self.started_at, since)
        if self.started_at is None or self.fired or not holding:
            return False
        if ts - self.started_at < self.min_duration:
            return False
        if self.last_fired is not None and ts - self.last_fired < self.cooldown:
            return False
        self.fired, self.last_fired = True, ts
        return True
