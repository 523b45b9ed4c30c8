"""Street-order scenario families (issue 16) for `bench/evaluate.py`, on the `street` camera
(`bench._cameras.street`: the street-order rules and their zones), in the style of `bench/scenarios.py`:

- spillover (店外经营 shop_spillover): potted plants put out on the shop front;
- nonmotor (非机动车乱停放 nonmotor_parking): a bicycle and e-bikes (COCO: motorcycle) parked in the
  no-parking entrance, two or more at once;
- bikepile (共享单车乱象 shared_bike_pile): bicycles parked one after another on the pavement until a pile;
- firelane (占用消防通道 fire_lane_blocked): a car stopping in the fire lane;
- street_free: event-free footage analysed by the street camera (its false alerts).

The imagery is `bench/_street_imagery.py` (real photos and video frames, with mattes or drawn silhouettes).
No umbrella, stall or table scenario: no package here ships a photo of one that the detector detects.
Each clip runs every street rule, so an alert of another street type on it is counted as false.
Onset: when the last object the rule needs is put down (the `need`-th; the first for spill-over).
Chosen on the tuning clips, checked on the held-out ones (`ho_*`, after the places and sizes were fixed).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bench import _street_imagery, _variants
from bench.scenarios import (
    HOUR,
    NIGHT,
    NOISE,
    SHADOWS,
    Cutout,
    NBox,
    Park,
    Scenario,
    _norm,
    car,
    height_at,
    paste_at,
)
from tests.support.scenes import Frame, Scene

W, H = 768, 576
Item = tuple[str, tuple[int, int], int, float]


def plaza_edge(x: float) -> float:
    """The plaza's lower edge (normalised y) at normalised x (bench._cameras.PLAZA)."""
    xs, ys = zip(*[(0.15, 0.46), (0.4, 0.5), (0.6, 0.62), (0.95, 0.84)], strict=True)
    return float(np.interp(x, xs, ys))  # (what, bottom centre px, height px, put down at media s)


@functools.lru_cache(maxsize=8)
def _cutout(what: str, height: int) -> Cutout:
    """`plant`, `bicycle`, `motorcycle` (a trailing `~`: mirrored) or `car:<name>`, scaled to `height` px."""
    flip = what.endswith("~")
    name = what.rstrip("~")
    if name.startswith("car:"):
        c = car(name[4:])
    else:
        c = {
            "plant": _street_imagery.plant,
            "bicycle": _street_imagery.bicycle,
            "motorcycle": _street_imagery.motorcycle,
        }[name]()
    if flip:
        c = _street_imagery.mirrored(c)
    h, w = c.alpha.shape
    return c.scaled(max(2, round(w * height / h)), height)


@dataclass(frozen=True)
class Place:
    """Objects put down one by one (`items`) and left there; the event holds once `need` of them are down."""

    items: tuple[Item, ...]
    need: int = 1

    def onset(self) -> float:
        return sorted(t for *_, t in self.items)[self.need - 1]

    def boxes(self) -> list[tuple[float, float, float, float]]:
        out = []
        for what, (x, y), height, _ in self.items:
            w = _cutout(what, height).alpha.shape[1]
            out.append((x - w / 2, y - height, x + w / 2, y))
        return out

    def where(self) -> NBox:
        a = np.array(self.boxes())
        return _norm((a[:, 0].min(), a[:, 1].min(), a[:, 2].max(), a[:, 3].max()))

    def available(self) -> str | None:
        return _street_imagery.available()

    def apply(self, scene: Scene) -> Scene:
        order = sorted(self.items, key=lambda it: it[1][1])  # far ones first: nearer objects cover them

        def frame(t: float) -> Frame:
            f = scene(t)
            for what, (x, y), height, t0 in order:
                if t >= t0:
                    f = paste_at(f, _cutout(what, height), x, y)
            return f

        return frame


def _street(
    name: str, family: str, event_type: str, inject: Place | Park, debounce: float, **kw: Any
) -> Scenario:
    """A 1 fps clip on the street camera lasting until the debounce + 50 s after the onset."""
    return Scenario(
        name=name,
        family=family,
        duration=math.ceil(inject.onset() + debounce + 50),
        fps=1.0,
        camera="street",
        event_type=event_type,
        inject=inject,
        **kw,
    )


def street_scenarios() -> list[Scenario]:
    from bench._cameras import BIKE_PILE_MIN, FIRE_LANE_MIN, NONMOTOR_MIN, SPILLOVER_MIN

    ho: dict[str, Any] = {"held_out": True}

    def spill(name: str, items: tuple[Item, ...], note: str, **kw: Any) -> Scenario:
        return _street(name, "spillover", "shop_spillover", Place(items), SPILLOVER_MIN, note=note, **kw)

    def nonmotor(name: str, items: tuple[Item, ...], note: str, **kw: Any) -> Scenario:
        return _street(name, "nonmotor", "nonmotor_parking", Place(items, 2), NONMOTOR_MIN, note=note, **kw)

    def pile(name: str, items: tuple[Item, ...], need: int, note: str, **kw: Any) -> Scenario:
        return _street(
            name, "bikepile", "shared_bike_pile", Place(items, need), BIKE_PILE_MIN, note=note, **kw
        )

    def fire(name: str, park: Park, note: str, **kw: Any) -> Scenario:
        return _street(name, "firelane", "fire_lane_blocked", park, FIRE_LANE_MIN, note=note, **kw)

    def at(what: str, x: int, y: int, t0: float, scale: float = 1.0) -> Item:
        """`what` standing with its feet at (x, y) px, at its real size for the perspective: a bike or e-bike
        0.65 of a person's height there, a potted shrub 0.8 (times `scale`: see `large`)."""
        return (what, (x, y), round(scale * (0.8 if what.startswith("plant") else 0.65) * height_at(y)), t0)

    def large(s: Scenario, scale: float = 1.5) -> Scenario:
        """The same clip with the objects 1.5 times their real size for the view: what a camera at two
        thirds of the distance would show of them, relative to the footage (the people stay as they are).
        At real size the shipped detector, on the 640-wide analysis image, finds a plant or a bike in the
        far plaza (40-50 px tall there) in too few frames; these clips show what the rules do once it does."""
        assert isinstance(s.inject, Place)
        items = tuple((w, xy, round(h * scale), t0) for w, xy, h, t0 in s.inject.items)
        return replace(s, name=f"{s.name}_x{scale:g}", inject=Place(items, s.inject.need),
                       note=f"{s.note}; objects x{scale:g} their real size")  # fmt: skip

    def row(xs: tuple[int, ...], t0: float, every: float, first: str = "bicycle") -> tuple[Item, ...]:
        """Bikes parked in a row along the pavement (the plaza's lower edge, 3 % of the height above it),
        alternately facing left and right, one every `every` s from `t0`."""
        other = "bicycle" if first.endswith("~") else "bicycle~"
        return tuple(
            at(first if k % 2 == 0 else other, x, round((plaza_edge(x / W) - 0.03) * H), t0 + every * k)
            for k, x in enumerate(xs)
        )

    events = [
        spill("spill_plants_two", (at("plant", 230, 262, 30.0), at("plant~", 170, 255, 45.0)),
              "two potted plants put out on the shop front"),
        spill("spill_plant_one_dim", (at("plant", 215, 258, 40.0),), "one potted plant, overcast (x0.8)",
              light=0.8),
        spill("ho_spill_plants_noise", (at("plant~", 160, 250, 35.0), at("plant", 240, 266, 50.0)),
              "two plants on the shop front, sensor noise", effects=(NOISE,), **ho),
        spill("ho_spill_plant_night", (at("plant", 200, 250, 30.0),), "one plant at night",
              effects=(NIGHT,), **ho),
        nonmotor("nonmotor_bike_moto", (at("bicycle", 265, 238, 30.0), at("motorcycle", 370, 258, 45.0)),
                 "a bicycle, then an e-bike (motorcycle) in the no-parking entrance"),
        nonmotor("nonmotor_two_motos_dim", (at("motorcycle~", 270, 236, 30.0), at("motorcycle", 372, 256, 40.0)),
                 "two e-bikes (motorcycles) in the entrance, overcast (x0.8)", light=0.8),
        nonmotor("ho_nonmotor_bikes_shadows", (at("bicycle~", 262, 240, 35.0), at("bicycle", 368, 260, 50.0)),
                 "two bicycles in the entrance, cloud shadows passing", effects=(SHADOWS,), **ho),
        pile("pile_row_five", row((330, 405, 480, 555, 630), 20.0, 10.0), 5,
             "five bicycles parked in a row along the pavement, one every 10 s"),
        pile("ho_pile_row_five_noise", row((345, 420, 495, 570, 640), 25.0, 8.0, first="bicycle~"), 5,
             "five bicycles in a row on the pavement, other places, sensor noise", effects=(NOISE,), **ho),
        fire("fire_grey", Park("grey_rear", (700, 360), 96, 30.0), "grey hatchback stops in the fire lane"),
        fire("fire_white_dim", Park("white_side", (690, 330), 150, 40.0), "white hatchback in the fire lane, "
             "overcast (x0.8)", light=0.8),
        fire("ho_fire_grey_night", Park("grey_rear", (690, 380), 104, 35.0), "grey hatchback in the fire lane, "
             "at night", effects=(NIGHT,), **ho),
    ]  # fmt: skip
    events += [large(s) for s in events if s.family in ("spillover", "nonmotor")]
    free = [
        Scenario("street_free_vtest", "street_free", HOUR, 1.0, "street", note="vtest looped, 1 h, street rules"),
        Scenario("street_free_night", "street_free", 0.5 * HOUR, 1.0, "street", effects=(NIGHT,), phase=23.0,
                 note="vtest at night, 30 min, street rules", **ho),
        Scenario("street_free_tree", "street_free", 0.5 * HOUR, 1.0, "street", base="tree",
                 note="tree footage, 30 min, street rules", **ho),
        # added after the first street run, to reach the 15 camera-hours a bound of 0.2 false alerts an
        # hour needs; the variants of bench/scenarios.py's held-out event-free set
        Scenario("street_free_vtest_b", "street_free", 2 * HOUR, 1.0, "street", phase=37.0,
                 note="vtest looped, 2 h, other phase", **ho),
        Scenario("street_free_vtest_c", "street_free", 1.5 * HOUR, 1.0, "street", phase=11.0,
                 note="vtest looped, 1.5 h, third phase", **ho),
        Scenario("street_free_noise", "street_free", 1.5 * HOUR, 1.0, "street", effects=(NOISE,), phase=11.0,
                 note="vtest, sensor noise (sigma 6)", **ho),
        Scenario("street_free_shadows", "street_free", 1.5 * HOUR, 1.0, "street", effects=(SHADOWS,), phase=31.0,
                 note="vtest, a cloud shadow crossing every 5 min", **ho),
        Scenario("street_free_light_steps", "street_free", HOUR, 1.0, "street", effects=(("light_steps", 600.0),),
                 phase=17.0, note="vtest, light stepping x1 / x0.7 / x1.3 every 10 min", **ho),
        Scenario("street_free_linger", "street_free", 1.5 * HOUR, 1.0, "street",
                 inject=_variants.Linger(1.5 * HOUR, slots=3, seed=11), phase=41.0,
                 note="vtest, up to 3 people lingering 1-3 min on the lawn and plaza", **ho),
        Scenario("street_free_dusk", "street_free", 1.5 * HOUR, 1.0, "street", effects=(("dusk", 600.0, 2400.0),),
                 phase=53.0, note="vtest, dusk falling over 40 min from minute 10, then night", **ho),
        Scenario("street_free_tree_b", "street_free", HOUR, 1.0, "street", base="tree", phase=7.0,
                 note="tree footage, 1 h", **ho),
        Scenario("street_free_tree_noise", "street_free", HOUR, 1.0, "street", base="tree", effects=(NOISE,),
                 phase=13.0, note="tree footage, sensor noise", **ho),
        Scenario("street_free_tree_night", "street_free", 0.5 * HOUR, 1.0, "street", base="tree",
                 effects=(NIGHT,), phase=3.0, note="tree footage at night", **ho),
    ]  # fmt: skip
    return [*events, *free]


def smoke_street() -> list[Scenario]:
    """One short clip of each street family, for the smoke test."""
    return [
        Scenario("smoke_spill", "spillover", 8.0, 1.0, "street", "shop_spillover",
                 Place((("plant", (200, 262), 70, 3.0),))),
        Scenario("smoke_pile", "bikepile", 8.0, 1.0, "street", "shared_bike_pile",
                 Place(tuple(("bicycle", (150 + 130 * k, 250), 80, 1.0 + k) for k in range(3)), 2)),
    ]  # fmt: skip
