"""Cross-rule arbitration for one camera: which of its rules look at a frame, so that a tampered or offline
camera's picture never reaches the rules that learn the scene (a cover must not become dumping, a turned view
must not become construction). The rules stay unaware of each other; the pipeline asks this class.

- Guards: the camera's `camera_health` rules. They always run, and run first on every frame.
- Image rules (`uses_image`, other than the guards: static_object, scene_change): paused -- not evaluated, so
  their background models learn nothing -- while a guard's episode is open (from the first failing frame, until
  the view has been healthy for the guard's `clear_after`) or while the reader reports the stream not online
  (frames still in flight from before an outage are not learned either).
- Box-only rules (count_in_zone, dwell, line_crossing) keep running: they read the detector's tracked people and
  vehicles, which are evidence whatever happened to the lens; a covered lens shows no one, so they fall silent
  by themselves. (A turned view does misplace their zones: that is camera_tampered's to report.)
- Recovery: a guard clears only once the view agrees with its reference again, so the paused rules' models are
  still those of this view: they resume where they were. If the reference itself was replaced (the operator
  accepted a new view), the image rules are rebuilt from their configuration and learn the new view afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from sentinel.detect.rules import Rule

log = logging.getLogger(__name__)

GUARD_KIND = "camera_health"


class _HasVersion(Protocol):
    version: int


def _reference_version(rule: Rule) -> int | None:
    """The version of a guard's reference view (None if it has none)."""
    reference: _HasVersion | None = getattr(rule, "reference", None)
    return reference.version if reference is not None else None


class RuleArbiter:
    """Decides, frame by frame, which of a camera's rules run (`runs`), and rebuilds the image rules when the
    camera's reference view is replaced (`rebuild(i)` makes rule i afresh; without it they are kept)."""

    def __init__(self, rules: list[Rule], rebuild: Callable[[int], Rule] | None = None) -> None:
        self.rules = rules  # the pipeline's own list: a rebuilt rule replaces its entry in place
        self.rebuild = rebuild
        self.guards = [i for i, r in enumerate(self.rules) if getattr(r, "kind", None) == GUARD_KIND]
        self.image_rules = [
            i for i, r in enumerate(self.rules) if getattr(r, "uses_image", True) and i not in self.guards
        ]
        self.online = True  # the reader's last word; True until it says otherwise (replay, tests)
        self.paused = False  # image rules paused on the current frame
        self._versions = {i: _reference_version(self.rules[i]) for i in self.guards}

    @property
    def others(self) -> list[int]:
        """The rules that are not guards (evaluated after them), in configured order."""
        return [i for i in range(len(self.rules)) if i not in self.guards]

    def note_online(self, online: bool) -> None:
        self.online = online

    def after_guards(self) -> None:
        """The guards have judged this frame: decide the pause, and re-learn if the reference changed."""
        tampered = any(self.rules[i].active for i in self.guards)
        self.paused = tampered or not self.online
        versions = {i: _reference_version(self.rules[i]) for i in self.guards}
        replaced = any(versions[i] != v and v not in (None, 0) for i, v in self._versions.items())
        self._versions = versions  # (0 -> 1 is the first reference being built: nothing to re-learn)
        if replaced:
            log.info("reference view replaced: the image rules learn the new view afresh")
            if self.rebuild is not None:
                for i in self.image_rules:
                    self.rules[i] = self.rebuild(i)

    def replaced(self, index: int) -> None:
        """Rule `index` was rebuilt (its schedule or a profile): a guard's reference version is its new one's,
        so the fresh guard re-reading its reference is not taken for the operator replacing it."""
        if index in self.guards:
            self._versions[index] = _reference_version(self.rules[index])

    def runs(self, index: int) -> bool:
        return not (self.paused and index in self.image_rules)
