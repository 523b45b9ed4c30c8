"""A camera's adaptive analysis rate: full rate while the picture moves, stepping down toward a floor while it
is still, back to full rate on the first frame that moves.

Pure: it sees only the motion gate's verdict on each analysed frame and that frame's time, so the daemon's
workers and `sentinel replay` (media time) slow down and speed up alike. The pipeline feeds it and hands its
rate to the camera's reader (`StreamReader.set_analyze_fps`).

Stepping: after `slow_after` seconds without motion the rate halves, and halves again after each further
`slow_after`, never below `floor`. The limits move with the rules: a rule that asks for a rate
(line_crossing's `analyze_fps`) raises the full rate and the floor while it is armed (`set_limits`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimits:
    full: float  # frames per second while something moves
    floor: float  # never below this while still

    def __post_init__(self) -> None:
        if not (0 < self.floor <= self.full):
            raise ValueError(f"analysis rate limits need 0 < floor <= full, got {self.floor} and {self.full}")


class AnalysisRate:
    def __init__(self, limits: RateLimits, slow_after: float) -> None:
        if slow_after <= 0:
            raise ValueError("slow_after must be positive")
        self.limits = limits
        self.slow_after = slow_after
        self._moved_at: float | None = None  # time of the last frame that moved (None: none yet)
        self._last_ts: float | None = None
        self._rate = limits.full

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def adaptive(self) -> bool:
        return self.limits.floor < self.limits.full

    def set_limits(self, limits: RateLimits) -> float:
        """New limits (a rule armed or disarmed): the current rate is kept within them."""
        self.limits = limits
        return self._update(self._last_ts)

    def observe(self, moved: bool, ts: float) -> float:
        """The motion gate's verdict on the frame taken at `ts`; returns the rate for the frames after it.
        Time going backwards (a new stream, a loop) counts as motion: nothing is known of the new picture."""
        if moved or self._moved_at is None or (self._last_ts is not None and ts < self._last_ts):
            self._moved_at = ts
        self._last_ts = ts
        return self._update(ts)

    def _update(self, ts: float | None) -> float:
        full, floor = self.limits.full, self.limits.floor
        if ts is None or self._moved_at is None:
            self._rate = full
            return full
        steps = math.floor((ts - self._moved_at) / self.slow_after)
        self._rate = max(floor, full / 2.0 ** min(max(steps, 0), 60))
        return self._rate


def rate_limits(analyze_fps: float, floor: float, asks: Iterable[float | None]) -> RateLimits:
    """A camera's limits: its `analyze_fps` and floor (`min_analyze_fps`), each raised to the highest rate
    a rule asks for (only the rules armed now, on the analysis path)."""
    wanted = max((a for a in asks if a is not None), default=0.0)
    return RateLimits(max(analyze_fps, wanted), min(max(floor, wanted), max(analyze_fps, wanted)))
