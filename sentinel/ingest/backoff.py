"""Exponential backoff with full jitter, so many cameras that fail together do not retry in lockstep."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, initial: float = 1.0, cap: float = 60.0, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """Delay before the next attempt: uniform in [ceiling/2, ceiling], ceiling doubling up to `cap`."""
        ceiling = min(self.cap, self.initial * (2**self.attempt))
        self.attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
