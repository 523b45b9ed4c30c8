"""Rule schedules and parameter profiles on the one analysis path: before the rules see a frame, each rule is
judged armed or not at the frame's time (site time zone), and the camera's profiles that hold then give its
parameters. Implemented here once for every rule kind; the rules know nothing of clocks.

While a rule is disarmed it raises nothing and reports no condition (a rule that is not looking is no
evidence that a place is clear: a case's camera verification waits for the next window). What it learns,
per kind (`learns_while_disarmed` on the rule says which):
- camera_health keeps running, alerts dropped: as the guard its verdict still pauses the image rules;
- static_object keeps learning, alerts dropped: its background follows the night's light, and a blob that
  qualifies meanwhile is held out of the background (so a stall put up at 06:30 is not learnt as scene);
- the others are not evaluated and learn nothing: count_in_zone, dwell and line_crossing keep only
  episodes (the tracker, which runs for every rule, still follows the objects); scene_change compares with
  a fixed reference view, and its sample window is refilled on arming.
On arming a rule forgets every episode and alert of before and counts what is present from the arming: a
rule with `rearm(ts)` does so keeping what it learnt of the scene (dwell: the tracker's stillness counts
from the arming; static_object: blobs still there are judged afresh; scene_change; camera_health); any
other (count_in_zone, line_crossing) is rebuilt from its parameters. So an alert's `started_at` is never
before its window began, and nothing of one window reaches the next. The window a rule is in at the
pipeline's first frame needs no arming: the rule is new. A rule disarmed at start and not learning
(scene_change aside, which has its reference) meets its scene at its first armed frame, as at a start.

A profile switch gives the rule its new parameters with `retune(params)` where the kind can keep its state
(count_in_zone, dwell, static_object with the same background settings); otherwise the rule is rebuilt with
them and rearmed at its window's start, so it dates nothing before it (scene_change and camera_health reload
their reference view from the camera's state folder; without one, as in tests, they build it afresh; a
rebuilt rule alerts again what is still there). Profiles that hold together apply in the order written.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from sentinel.config.camera import CameraConfig
from sentinel.detect.rules import Rule, RuleParams
from sentinel.detect.schedule import WeekClock, with_overrides

log = logging.getLogger(__name__)

# (rule index, its parameters now) -> the rule built afresh with them
RuleBuilder = Callable[[int, RuleParams], Rule]


class RuleSchedules:
    """Which of a camera's rules are armed on the current frame, and their current parameters. `rules` is the
    pipeline's own list: a rebuilt rule replaces its entry in place (`on_rebuilt(i)` is told)."""

    def __init__(
        self,
        camera: CameraConfig,
        rules: list[Rule],
        timezone: str,
        build: RuleBuilder | None = None,
        on_rebuilt: Callable[[int], None] | None = None,
    ) -> None:
        self.camera = camera
        self.rules = rules
        self.clock = WeekClock(timezone)
        self.build = build
        self.on_rebuilt = on_rebuilt
        # a pipeline built by hand from rule objects (tests) has no entries to read schedules from
        self.params: Sequence[RuleParams] = camera.rules if len(camera.rules) == len(rules) else ()
        self.enabled = bool(self.params) and (any(p.schedule for p in self.params) or bool(camera.profiles))
        self.armed = [True] * len(rules)
        self.armed_at = [-math.inf] * len(rules)  # when the current window armed it (-inf: from the start)
        self.profiles: list[tuple[str, ...]] = [()] * len(rules)  # the profiles each rule runs under
        self._started = False

    def is_armed(self, index: int) -> bool:
        return self.armed[index]

    def learns_while_disarmed(self, index: int) -> bool:
        """The rule runs while disarmed, its alerts dropped (its kind says so: `learns_while_disarmed`)."""
        return bool(getattr(self.rules[index], "learns_while_disarmed", False))

    def update(self, ts: float) -> None:
        """Judge every rule at `ts`: arm, disarm, switch profiles."""
        if not self.enabled:
            return
        first, self._started = not self._started, True
        for index, params in enumerate(self.params):
            armed = self.clock.within(params.schedule, ts)
            profiles = self._profiles_of(params, ts)
            if profiles != self.profiles[index]:
                self._switch(index, params, profiles)
            if armed and not self.armed[index] and not first:
                self.armed_at[index] = ts
                self._arm(index, ts)
            if armed != self.armed[index]:
                log.info(
                    "camera %s: rule %s %s", self.camera.id, params.name or f"{index} ({params.kind})",
                    "armed" if armed else "disarmed",
                )  # fmt: skip
            self.armed[index] = armed

    def _profiles_of(self, params: RuleParams, ts: float) -> tuple[str, ...]:
        if params.name is None:
            return ()
        return tuple(
            name
            for name, profile in self.camera.profiles.items()
            if params.name in profile.rules and self.clock.within(profile.schedule, ts)
        )

    def current_params(self, index: int) -> RuleParams:
        return self._params_under(self.params[index], self.profiles[index])

    def _params_under(self, params: RuleParams, profiles: tuple[str, ...]) -> RuleParams:
        values: dict[str, Any] = {}
        for name in profiles:
            assert params.name is not None
            values.update(self.camera.profiles[name].rules[params.name])
        return with_overrides(params, values) if values else params

    def _switch(self, index: int, params: RuleParams, profiles: tuple[str, ...]) -> None:
        self.profiles[index] = profiles
        new = self._params_under(params, profiles)
        rule = self.rules[index]
        retune = getattr(rule, "retune", None)
        kept = bool(retune(new)) if callable(retune) else False
        log.info(
            "camera %s: rule %s now under %s%s", self.camera.id, params.name, ", ".join(profiles) or "its own "
            "parameters", "" if kept else " (rebuilt: its state starts afresh)",
        )  # fmt: skip
        if not kept:
            self._rebuild(index, new)

    def _arm(self, index: int, ts: float) -> None:
        rearm = getattr(self.rules[index], "rearm", None)
        if callable(rearm):
            rearm(ts)
        else:
            self._rebuild(index, self.current_params(index))

    def _rebuild(self, index: int, params: RuleParams) -> None:
        if self.build is None:
            return  # no way to build one (a hand-made pipeline): the rule keeps its state
        self.rules[index] = rule = self.build(index, params)
        rearm = getattr(rule, "rearm", None)
        if callable(rearm) and self.armed_at[index] > -math.inf:
            rearm(self.armed_at[index])  # rebuilt mid-window (dwell): nothing dated before the window began
        if self.on_rebuilt is not None:
            self.on_rebuilt(index)
