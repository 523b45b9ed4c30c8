"""Text scenarios for the evaluation harness (`bench/evaluate.py --only text`): posters and banners with Chinese
text pasted with perspective on the two brick walls of vtest.avi at a known time (`tests.support.scenes_text`,
rendered in Noto Sans CJK), a person cut out of vtest in a printed T-shirt standing in front of the facade
(the rule must not take the shirt for a poster), and the looped footage with nothing put up.

All run on the `wall` camera (`bench._cameras.wall`): the standard zones plus `facade` (the building top left)
and `centre_wall` (the brick band above the centre building's windows), with posted_text at its defaults:
posters on both walls, banners on the centre wall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.scenarios import NBox, Scenario
from tests.support.scenes import Scene
from tests.support.scenes_text import CENTRE_BANNER, CENTRE_POSTER, FACADE_POSTER, Posted, Quad, ShirtWalker

MIN_DURATION = 120.0  # posted_text's default
# onsets come after the rule's background warm-up (the first min(2 x settle_time, 120) = 60 s): a sheet put up
# during it is in the seed's samples and seen only once the seed is taken, so its alert comes that much late
TAIL = MIN_DURATION + 2 * 30 + 40  # min_duration + the background's settling (2 x settle_time) + a margin
FACADE_LOW: Quad = ((20, 22), (62, 23), (62, 52), (20, 51))  # a smaller sheet, lower on the facade
CENTRE_BANNER_SHORT: Quad = ((420, 6), (560, 6), (560, 26), (420, 26))


@dataclass(frozen=True)
class PostText:
    """A sheet of `lines` put up on `quad` (vtest pixels) at media time `t0`; `banner`: red cloth, one line."""

    lines: tuple[str, ...]
    quad: Quad
    t0: float
    banner: bool = False

    def posted(self) -> Posted:
        if self.banner:
            width = 100 * len(self.lines[0])
            return Posted(
                self.lines, self.quad, self.t0, sheet_size=(width, 120), bg=(40, 40, 200), fg=(0, 230, 255)
            )
        return Posted(self.lines, self.quad, self.t0)

    def onset(self) -> float:
        return self.t0

    def where(self) -> NBox:
        return self.posted().normalised()

    def apply(self, scene: Scene) -> Scene:
        return self.posted().scene(scene)


@dataclass(frozen=True)
class ShirtStand:
    """The printed-T-shirt person walking in at `t0`, standing in front of the facade for `stand_for` s, then
    walking on. Not an event: onset and place are None."""

    t0: float
    stand_for: float
    lines: tuple[str, ...] = ("创城", "有我")

    def walker(self) -> ShirtWalker:
        return ShirtWalker(self.lines, t0=self.t0, stand_at=self.t0 + 8.0, stand_for=self.stand_for)

    def onset(self) -> float | None:
        return None

    def where(self) -> NBox | None:
        return None

    def apply(self, scene: Scene) -> Scene:
        return self.walker().scene(scene)


def _text(name: str, event_type: str, inject: PostText, note: str, **kw: object) -> Scenario:
    return Scenario(
        name=name,
        family="text",
        duration=math.ceil(inject.onset() + TAIL),
        fps=1.0,
        camera="wall",
        event_type=event_type,
        inject=inject,  # type: ignore[arg-type]
        note=note,
        **kw,  # type: ignore[arg-type]
    )


def text_scenarios() -> list[Scenario]:
    ads, banner = "illegal_small_ads", "illegal_banner"
    return [
        _text("text_poster_facade", ads, PostText(("办证刻章", "快速办理"), FACADE_POSTER, 60.0),
              "A4-like sheet, 2 lines of 4 characters, on the facade top left (60x40 px)"),
        _text("text_poster_facade_dim", ads, PostText(("疏通管道", "低价回收"), FACADE_LOW, 75.0),
              "smaller sheet lower on the facade (42x30 px), overcast (x0.7)", light=0.7),
        _text("text_poster_centre", ads, PostText(("招租", "电话联系"), CENTRE_POSTER, 90.0),
              "sheet on the brick band above the centre windows (60x26 px)"),
        _text("text_banner_centre", banner, PostText(("严禁乱搭乱建共建美好家园",), CENTRE_BANNER, 60.0, True),
              "red banner, 12 characters, above the centre windows (220x22 px)"),
        _text("text_banner_centre_bright", banner, PostText(("热烈庆祝开业大吉",), CENTRE_BANNER_SHORT, 80.0, True),
              "shorter banner, 8 characters (140x20 px), bright (x1.2)", light=1.2),
        Scenario("free_wall_shirt", "event_free", 300.0, 1.0, "wall", inject=ShirtStand(40.0, 150.0),  # type: ignore[arg-type]
                 note="a person in a printed T-shirt (创城有我) standing 150 s in front of the facade"),
        Scenario("free_wall_vtest", "event_free", 3600.0, 1.0, "wall", phase=11.0,
                 note="vtest looped, 1 h, wall camera"),
    ]  # fmt: skip
