"""`camera_health`: video quality diagnosis (视频质量诊断) against the camera's approved reference view —
the view is blocked/covered, moved, or defocused (camera_tampered 视频遮挡/移位). Each check must hold
`min_duration`; the event names the check that failed in `detail` (zone None, no objects).

- blocked (`blocked_area`, 0.6): one connected featureless region (no clear structure above the current
  noise, nor above SHADING of the view's strong edges, within REACH pixels) covers that share of the part of the view that had structure in the reference,
  wherever its edges fall; changed structure within FOLD_BAND of it (a fold, a seam, a hand's outline) counts
  as part of the cover, so a textured edge band does not save it. A dark but intact night view keeps its edges.
- moved (`max_shift`, 0.02): once the structure stops agreeing with the reference (local gradient
  correlation), phase correlation proposes a displacement; if shifting back restores the agreement, the view
  moved by that much; if nothing restores it (agreement below DIFFERENT), the view is another one: turned,
  zoomed, re-aimed.
- hazed (`min_contrast`, 0.5): tonal contrast (p90 - p10) / (p90 + p10) against the reference's. A gain
  (dusk, exposure steps, the IR switch's brighter grey picture) cancels; a veil of scattered light (spray,
  grease, fog on the lens) lifts the dark end and lowers it.
- blurred (`min_sharpness`, 0.4): sharpness relative to the reference: (Laplacian energy - its noise share) /
  coarse gradient energy; contrast cancels, defocus removes the fine scale only.

Parameters were chosen on vtest-based scenes (tests/support/scenes.py, scenes_tamper.py): REACH, FOLD_BAND
and `blocked_area` on 80 % / 65 % / 40 % cloths (lost 0.80 / 0.67 / 0.45) against people, dusk, brightness
steps and the IR switch (lost at most 0.16); `min_contrast` on a sprayed lens (0.22-0.44) against the IR
switch (>= 0.77) and clipped brightening (>= 0.85).

Checks are exclusive, by priority: a covered view is not also "moved" or "blurred", a moved one not "blurred".
They share one episode: the camera is tampered with while any check fails, and the event names the check that
failed most often in it. A cloth over 80 % of the view reads "blocked" on most frames and "moved" (nothing
agrees with the reference) on some as it shifts; with an episode per check each flip restarted the clock.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from sentinel.detect.image_structure import (
    Structure,
    StructureDiff,
    clear_structure,
    downscale,
    largest_featureless,
    noise_sigma,
    phase_shift,
    small_grey,
    tonal_contrast,
    translate,
)
from sentinel.detect.reference_view import ReferenceView
from sentinel.detect.rules.base import Episode, FrameContext, RuleEnv, RuleEvent, RuleParams
from sentinel.fields import Seconds

if TYPE_CHECKING:
    from sentinel.detect.zones import ZoneArea

WIDTH = 320  # blocked / moved analysis width
SHARP_WIDTH = 640  # blur is measured finer: a mild defocus vanishes when the frame is shrunk
WINDOW = 9
# structure weaker than this share of the view's strong edges is shading (a cloth's folds), not structure;
# chosen on the evaluation's 60-80 % cloths on vtest and the tree footage (lost 0.62-0.93 against 0.0-0.15
# without it), checked against night, IR, dusk and exposure steps (lost <= 0.11, tree at night 0.32)
SHADING = 0.02
REACH = 4  # pixels at WIDTH: structure this close keeps a pixel out of the featureless region
HAD_REACH = 12  # pixels at WIDTH: the reference "had structure" this close to its clear edges
FOLD_BAND = (
    48  # pixels at WIDTH (15 %): changed structure this close to a featureless region is the cover's edge
)
MATCH = 0.5  # share of agreeing structure below which the view is not the reference's as it stands
SHIFT_EXPLAINS = 0.35  # ... and agreement once shifted back, above which it is the same view, displaced
DIFFERENT = 0.25  # agreement below which (no shift explaining it) the view is another one: turned, zoomed


HealthCheck = Literal["blocked", "moved", "hazed", "blurred"]
ALL_HEALTH_CHECKS: tuple[HealthCheck, ...] = ("blocked", "moved", "hazed", "blurred")


class CameraHealthParams(RuleParams):
    """The view is blocked/covered, moved, or defocused for `min_duration` (camera_tampered)."""

    kind: Literal["camera_health"]
    checks: list[HealthCheck] = Field(default_factory=lambda: list(ALL_HEALTH_CHECKS), min_length=1)
    min_duration: Seconds = 30.0
    blocked_area: float = Field(
        default=0.6, gt=0, le=1, description="blocked: share of the view whose structure has gone"
    )
    max_shift: float = Field(
        default=0.02, gt=0, lt=0.5, description="moved: displacement from the reference, share of the width"
    )
    min_sharpness: float = Field(
        default=0.4, gt=0, lt=1, description="blurred: sharpness below this fraction of the reference's"
    )
    min_contrast: float = Field(
        default=0.5, gt=0, lt=1, description="hazed: tonal contrast below this fraction of the reference's"
    )

    @field_validator("zone")
    @classmethod
    def _whole_view(cls, v: str | None) -> str | None:
        if v is not None:
            raise ValueError("camera_health checks the whole view: remove `zone`")
        return v


@dataclass(frozen=True)
class Reference:
    """What the checks need of the reference view, computed once per reference."""

    grey: np.ndarray  # at WIDTH
    structure: Structure
    had: np.ndarray  # bool: where the reference has structure (near a clear edge)
    sharpness: float
    contrast: float
    window: np.ndarray  # Hanning window for phase correlation


@dataclass(frozen=True)
class Health:
    """One frame's measurements, relative to the reference."""

    lost: float  # share of the reference's structured view inside one featureless region now
    shift: tuple[float, float]  # (dx, dy) of the view against the reference, pixels at WIDTH
    # share of judgeable pixels whose structure matches the reference (once shifted back, if a shift explains it)
    agreement: float
    sharpness: float  # sharpness now / sharpness of the reference
    contrast: float  # tonal contrast now / the reference's


def sharpness(g: np.ndarray) -> float:
    """Fine-scale (Laplacian) energy over coarse-scale gradient energy; contrast cancels, blur lowers it."""
    lap = cv2.Laplacian(g, cv2.CV_32F, ksize=1)
    fine = float(np.mean(lap * lap)) - 20.0 * noise_sigma(g) ** 2  # the Laplacian passes 20 sigma² of noise
    coarse = cv2.GaussianBlur(g, (0, 0), 2.0)
    gx = cv2.Sobel(coarse, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(coarse, cv2.CV_32F, 0, 1, ksize=3)
    return max(fine, 0.0) / max(float(np.mean(gx * gx + gy * gy)), 1e-3)


def near(mask: np.ndarray, reach: int) -> np.ndarray:
    """bool: within `reach` pixels of `mask`."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def agreement_of(diff: StructureDiff) -> float:
    """Share of the judgeable pixels whose structure matches the reference's."""
    judged = int(diff.evaluable.sum())
    return float((diff.evaluable & ~diff.changed).sum()) / judged if judged else 0.0


class CameraHealth:
    kind = "camera_health"
    uses_image = True  # the analysis picture (`FrameContext.image`), on every frame
    ORDER: tuple[HealthCheck, ...] = ALL_HEALTH_CHECKS

    def __init__(self, cfg: CameraHealthParams, area: ZoneArea, env: RuleEnv) -> None:
        self.cfg = cfg
        self.event_type = cfg.event_type
        self.zone: str | None = None  # the whole view, always
        self.reference = ReferenceView(env.state_dir)
        self.checks = [c for c in self.ORDER if c in cfg.checks]
        self.health: Health | None = None  # last measurements
        self._ref_version = -1
        self._reset()

    def _reset(self) -> None:
        clear_after = max(3.0, self.cfg.min_duration / 10.0)  # the view fails throughout, bar a frame or two
        self.episode = Episode(self.cfg.min_duration, self.cfg.cooldown, clear_after)
        self.seen: Counter[HealthCheck] = Counter()  # frames per failing check in the open episode
        self.last_seen: dict[HealthCheck, Health] = {}  # ... and each one's latest measurements
        self._ref: Reference | None = None

    @property
    def active(self) -> bool:
        return self.episode.started_at is not None

    learns_while_disarmed = True  # a guard: its verdict pauses the image rules whether or not it is armed

    def rearm(self, ts: float) -> None:
        """Armed again by the schedule. As a guard it ran while disarmed (its verdict still pauses the image
        rules), its alerts dropped: a fresh episode, so a fault that persists is alerted from the arming."""
        self._reset()

    def accept_new_view(self) -> None:
        """Operator action (e.g. the camera was re-aimed on purpose): the view as it is now is the reference."""
        self.reference.accept_new_view()
        self._reset()

    def evaluate(self, ctx: FrameContext) -> RuleEvent | None:
        if ctx.image is None:
            return None
        reference = self.reference.update(ctx.image, ctx.ts)
        if reference is None:
            return None
        if self.reference.version != self._ref_version or self._ref is None:
            self._ref_version = self.reference.version
            self._reset()
            self._ref = self._prepare(reference)
        self.health = h = self._measure(ctx.image)
        failing = self._failing(h)
        was_open = self.episode.started_at is not None
        fired = self.episode.update(ctx.ts, failing is not None, failing is not None)
        if self.episode.started_at is None or not was_open:
            self.seen.clear()  # ended, or (re)started on this frame
            self.last_seen.clear()
        if failing is not None:
            self.seen[failing] += 1
            self.last_seen[failing] = h
        if not fired:
            return None
        check = min(
            self.seen, key=lambda c: (-self.seen[c], self.checks.index(c))
        )  # most often; ties by priority
        return self._event(ctx, check, self.last_seen[check])

    def _prepare(self, reference: np.ndarray) -> Reference:
        fine = small_grey(reference, SHARP_WIDTH)
        g = downscale(fine, WIDTH)
        s = Structure.of(g, WINDOW)
        window = cv2.createHanningWindow((g.shape[1], g.shape[0]), cv2.CV_32F)
        had = near(clear_structure(s, relative=SHADING), HAD_REACH)
        return Reference(g, s, had, sharpness(fine), tonal_contrast(g), window)

    def _measure(self, image: np.ndarray) -> Health:
        ref = self._ref
        assert ref is not None
        fine = small_grey(image, SHARP_WIDTH)
        g = downscale(fine, WIDTH)
        if g.shape != ref.grey.shape:  # the stream's aspect changed: compare what can be compared
            g = cv2.resize(g, (ref.grey.shape[1], ref.grey.shape[0]), interpolation=cv2.INTER_AREA)
        s = Structure.of(g, WINDOW)
        diff = StructureDiff.of(ref.structure, s, WINDOW)
        hidden = largest_featureless(clear_structure(s, relative=SHADING), REACH)
        if hidden.any():  # the cover's edge: folds, seams, a hand's outline -- structure the reference lacks
            hidden |= near(hidden, FOLD_BAND) & diff.changed
        lost = float((hidden & ref.had).sum()) / max(int(ref.had.sum()), 1)
        agreement = agreement_of(diff)
        shift = (0.0, 0.0)
        if agreement < MATCH:  # the view does not match: is it the same view, displaced?
            dx, dy, _ = phase_shift(ref.grey, g, ref.window)
            realigned = self._agreement(Structure.of(translate(g, -dx, -dy), WINDOW))
            if realigned >= SHIFT_EXPLAINS and realigned >= agreement + 0.15:  # yes: the shift explains it
                shift, agreement = (dx, dy), realigned
        contrast = tonal_contrast(g) / max(ref.contrast, 1e-3)
        return Health(lost, shift, agreement, sharpness(fine) / max(ref.sharpness, 1e-6), contrast)

    def _agreement(self, s: Structure) -> float:
        assert self._ref is not None
        return agreement_of(StructureDiff.of(self._ref.structure, s, WINDOW))

    def _failing(self, h: Health) -> HealthCheck | None:
        """The first failing check, in priority order (blocked hides moved and blurred; moved hides blurred)."""
        assert self._ref is not None
        width = self._ref.grey.shape[1]
        if h.lost >= self.cfg.blocked_area:
            failing: HealthCheck | None = "blocked"
        elif math.hypot(*h.shift) > self.cfg.max_shift * width or h.agreement < DIFFERENT:
            failing = "moved"
        elif h.contrast < self.cfg.min_contrast:
            failing = "hazed"
        elif h.sharpness < self.cfg.min_sharpness:
            failing = "blurred"
        else:
            return None
        return failing if failing in self.checks else None

    def _event(self, ctx: FrameContext, check: HealthCheck, h: Health) -> RuleEvent:
        episode = self.episode
        assert episode.started_at is not None and self._ref is not None
        width = self._ref.grey.shape[1]
        if check == "blocked":
            detail = f"blocked: {h.lost:.0%} of the view's structure is gone (covered or obstructed)"
            confidence = h.lost
        elif check == "moved":
            dx, dy = h.shift
            if h.agreement < DIFFERENT:
                detail = (
                    f"moved: the view no longer matches the reference (only {h.agreement:.0%} of it agrees)"
                )
                confidence = 1.0 - h.agreement
            else:
                moved = math.hypot(dx, dy) / width
                detail = f"moved: the view is shifted by {moved:.1%} of its width (dx {dx / width:+.1%}, dy {dy / width:+.1%})"
                confidence = min(1.0, moved / (2 * self.cfg.max_shift))
        elif check == "hazed":
            detail = (
                f"hazed: contrast is {h.contrast:.0%} of the reference's (sprayed, smeared or fogged lens)"
            )
            confidence = 1.0 - h.contrast
        else:
            detail = f"blurred: sharpness is {h.sharpness:.0%} of the reference's (defocused, dirty or misted lens)"
            confidence = 1.0 - h.sharpness
        return RuleEvent(
            camera_id=ctx.camera_id,
            rule_kind=self.kind,
            event_type=self.event_type,
            zone=None,
            started_at=episode.started_at,
            detected_at=ctx.ts,
            count=1,
            confidence=round(float(np.clip(confidence, 0.05, 1.0)), 3),
            objects=[],
            zone_polygon=None,
            detail=detail,
        )
