"""The evaluation's camera configs as plain data (what a technician writes in cameras.yaml), so that each
git revision under evaluation validates them with its own `sentinel.config` models: the rules of two
revisions may take different keys, and a per-revision `profile` holds the difference.

Profiles:
- `base`: only keys every revision since issue 14 knows; each rule at its documented defaults.
- `i15`: `base` plus what the issue-15 branches add that a site would switch on (see `PROFILE_EXTRA`);
  chosen by `profile_for(models)` when the revision's config models have those keys.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

ROAD = [(0.0, 0.32), (0.55, 0.32), (0.78, 0.22), (1.0, 0.2), (1.0, 0.86), (0.88, 0.82), (0.6, 0.62),
        (0.4, 0.5), (0.0, 0.43)]  # fmt: skip
PLAZA = [(0.15, 0.33), (0.75, 0.33), (0.95, 0.6), (0.95, 0.84), (0.6, 0.62), (0.4, 0.5), (0.15, 0.46)]
LAWN = [(0.0, 0.45), (0.4, 0.52), (0.62, 0.66), (0.9, 0.84), (1.0, 0.9), (1.0, 1.0), (0.0, 1.0)]
UPPER_LAWN = [(0.0, 0.13), (0.38, 0.1), (0.75, 0.2), (0.75, 0.24), (0.0, 0.27)]
GROUND = [(0.0, 0.3), (0.55, 0.3), (0.78, 0.2), (1.0, 0.18), (1.0, 1.0), (0.0, 1.0)]
# street-order zones (issue 16) on the plaza and the road right of it, as a site would draw them in front of
# shops: a shop front (spill-over), a no-parking entrance (bikes, e-bikes), a pavement (shared-bike piles),
# and the fire lane (the road beyond the plaza). The street camera alone runs rules on them.
SHOPFRONT = [(0.15, 0.33), (0.33, 0.33), (0.33, 0.48), (0.15, 0.46)]
NO_PARKING = [(0.33, 0.33), (0.50, 0.33), (0.50, 0.47), (0.40, 0.43), (0.33, 0.42)]
# the pavement: the plaza's near band, along its lower edge (where bikes are parked in a row)
PAVEMENT = [(0.40, 0.43), (0.60, 0.55), (0.84, 0.70), (0.84, 0.78), (0.60, 0.63), (0.40, 0.51)]
FIRE_LANE = [(0.75, 0.33), (0.78, 0.22), (1.0, 0.2), (1.0, 0.86), (0.88, 0.82), (0.80, 0.55)]
ZONES = {"road": ROAD, "plaza": PLAZA, "lawn": LAWN, "upper_lawn": UPPER_LAWN, "ground": GROUND}
STREET_ZONES = {
    "shopfront": SHOPFRONT,
    "no_parking": NO_PARKING,
    "pavement": PAVEMENT,
    "fire_lane": FIRE_LANE,
}

CROWD_MIN = 10  # count_in_zone min_count: "ten or more people for a minute" (the rule's docstring)
TIMELAPSE_MIN_DURATION = 600.0  # scene_change: 30 min by default, shortened to 10 min for the time-lapse


def _zones(zones: dict[str, list[tuple[float, float]]] = ZONES) -> list[dict[str, Any]]:
    return [{"name": n, "polygon": [list(p) for p in poly]} for n, poly in zones.items()]


def standard(camera_id: str) -> dict[str, Any]:
    """A street camera analysed at the default 1 fps with every rule a site would run on it, at the rules'
    documented defaults (min_duration etc. from the rule docstrings and the event-type table)."""
    rules = [
        {"kind": "count_in_zone", "event_type": "crowd_gathering", "zone": "plaza", "classes": ["person"],
         "min_count": CROWD_MIN, "min_duration": 60.0},
        {"kind": "static_object", "event_type": "garbage_exposed", "zone": "ground"},
        {"kind": "dwell", "event_type": "motor_parking", "zone": "road",
         "classes": ["car", "bus", "truck", "motorcycle"], "min_duration": 300.0, "cooldown": 600.0,
         "max_gap": 30.0},
        {"kind": "camera_health", "event_type": "camera_tampered"},
        {"kind": "scene_change", "event_type": "illegal_construction", "zone": "lawn"},
    ]  # fmt: skip
    return {"id": camera_id, "source": "eval.mp4", "analyze_fps": 1.0, "zones": _zones(), "rules": rules}


def timelapse(camera_id: str) -> dict[str, Any]:
    """A construction watch on a time-lapse (0.2 fps): scene_change on the two lawns with min_duration
    shortened from 30 to 10 minutes (the only shortened parameter), and camera_health at its defaults."""
    rules: list[dict[str, Any]] = [
        {"kind": "scene_change", "event_type": "illegal_construction", "zone": z,
         "min_duration": TIMELAPSE_MIN_DURATION}
        for z in ("lawn", "upper_lawn")
    ]  # fmt: skip
    rules.append({"kind": "camera_health", "event_type": "camera_tampered"})
    return {"id": camera_id, "source": "eval.mp4", "analyze_fps": 0.2, "zones": _zones(), "rules": rules}


FACADE = [(0.0, 0.0), (0.16, 0.0), (0.16, 0.31), (0.0, 0.31)]  # the building top left, and the path before it
CENTRE_WALL = [
    (0.42, 0.0),
    (0.76, 0.0),
    (0.76, 0.07),
    (0.42, 0.07),
]  # the brick band above the centre windows


def wall(camera_id: str) -> dict[str, Any]:
    """The standard view watched for text put up (posted_text at its defaults, bench/scenarios_text.py):
    posters on both walls, banners on the centre wall."""
    zones = [*_zones(), {"name": "facade", "polygon": [list(p) for p in FACADE]},
             {"name": "centre_wall", "polygon": [list(p) for p in CENTRE_WALL]}]  # fmt: skip
    rules = [
        {"kind": "posted_text", "event_type": "illegal_small_ads", "zone": "facade", "min_duration": 120.0},
        {"kind": "posted_text", "event_type": "illegal_small_ads", "zone": "centre_wall", "min_duration": 120.0},
        {"kind": "posted_text", "event_type": "illegal_banner", "text_shape": "banner", "zone": "centre_wall",
         "min_duration": 120.0},
    ]  # fmt: skip
    return {"id": camera_id, "source": "eval.mp4", "analyze_fps": 1.0, "zones": zones, "rules": rules}


# street-order debounces, shortened from the shipped examples' minutes so that clips stay short; the same
# settings run on the event-free footage
SPILLOVER_MIN = 180.0
NONMOTOR_MIN = 180.0
BIKE_PILE_MIN = 120.0
FIRE_LANE_MIN = 60.0


def street(camera_id: str) -> dict[str, Any]:
    """A street camera at 1 fps with the street-order rules only (the standard camera's rules are evaluated
    on `standard`; a street clip is analysed by this one, so each new type is also checked against the
    others' clips)."""
    rules = [
        {"kind": "dwell", "event_type": "shop_spillover", "zone": "shopfront",
         "classes": ["chair", "dining table", "potted plant", "suitcase"], "min_duration": SPILLOVER_MIN,
         "cooldown": 600.0},
        {"kind": "stationary_count", "event_type": "nonmotor_parking", "zone": "no_parking",
         "classes": ["bicycle", "motorcycle"], "min_count": 2, "min_duration": NONMOTOR_MIN},
        {"kind": "stationary_count", "event_type": "shared_bike_pile", "zone": "pavement",
         "classes": ["bicycle"], "min_count": 5, "min_duration": BIKE_PILE_MIN},
        {"kind": "dwell", "event_type": "fire_lane_blocked", "zone": "fire_lane",
         "classes": ["car", "truck", "bus", "motorcycle"], "min_duration": FIRE_LANE_MIN, "cooldown": 300.0},
        {"kind": "dwell", "event_type": "umbrella_fixed", "zone": "plaza", "classes": ["umbrella"],
         "min_duration": 300.0},
        {"kind": "dwell", "event_type": "road_vending", "zone": "plaza", "classes": ["umbrella", "dining table"],
         "with_classes": ["person"], "min_duration": 180.0},
    ]  # fmt: skip
    zones = _zones({**ZONES, **STREET_ZONES})
    # a pile of bikes: the detector's box around two neighbours would swallow each one's own box as a
    # "fragment" (nested_within, default 0.8), and the pile would count short; a street camera turns it off
    hygiene = {"nested_within": None}
    # bikes and plants 40-60 px tall: the small zones detected again at full resolution (issue 16): shop front
    # and entrance in the letterbox band, the pavement on a second input; the fire lane's cars are large
    tiles = ["shopfront", "no_parking", "pavement"]
    return {"id": camera_id, "source": "eval.mp4", "analyze_fps": 1.0, "zones": zones, "rules": rules,
            "detection_filter": hygiene, "detect_tiles": tiles}  # fmt: skip


SPECS = {"standard": standard, "timelapse": timelapse, "wall": wall, "street": street}

# keys added on top of `base` for a revision that has them: (rule kind or "camera", key, value). Filled in
# from the issue-15 branches' documentation once they exist; a key the revision lacks is never sent.
PROFILE_EXTRA: list[tuple[str, str, Any]] = []


ADAPTIVE_ENV = (
    "SENTINEL_EVAL_ADAPTIVE"  # `MIN_FPS[:SLOW_AFTER]`: every camera adaptive (evaluate.py --adaptive)
)


def adaptive(d: dict[str, Any], setting: str) -> dict[str, Any]:
    """The camera spec with the adaptive analysis rate on: `min_analyze_fps` MIN_FPS (at most the camera's
    `analyze_fps`), `slow_after` SLOW_AFTER seconds (default: the camera entry's)."""
    if not setting:
        return d
    floor, _, slow = setting.partition(":")
    d = copy.deepcopy(d)
    d["min_analyze_fps"] = min(float(floor), float(d.get("analyze_fps", 1.0)))
    if slow:
        d["slow_after"] = float(slow)
    return d


def spec(camera: str, camera_id: str = "eval", profile: str = "base") -> dict[str, Any]:
    d = SPECS[camera](camera_id)
    if profile == "i15":
        d = copy.deepcopy(d)
        for where, key, value in PROFILE_EXTRA:
            if where == "camera":
                d[key] = copy.deepcopy(value)
            else:
                for r in d["rules"]:
                    if r["kind"] == where:
                        r[key] = copy.deepcopy(value)
    return d


def spec_hash(camera: str, profile: str) -> str:
    return hashlib.sha256(json.dumps(spec(camera, "eval", profile), sort_keys=True).encode()).hexdigest()[:12]


def extra_hash() -> str:
    return hashlib.sha256(repr(PROFILE_EXTRA).encode()).hexdigest()[:12]


def debounce(camera: str, event_type: str) -> float:
    """The configured min_duration of the rule that raises `event_type` on that camera (as in `base`)."""
    for r in SPECS[camera]("eval")["rules"]:
        if r["event_type"] == event_type:
            return float(r["min_duration"] if "min_duration" in r else _default_min_duration(r["kind"]))
    raise KeyError(f"camera {camera!r} has no rule for {event_type!r}")


def _default_min_duration(kind: str) -> float:
    from sentinel.config import models

    cls: Any = {
        "static_object": models.StaticObjectRule,
        "camera_health": models.CameraHealthRule,
        "scene_change": models.SceneChangeRule,
    }[kind]
    return float(cls.model_fields["min_duration"].default)


def event_types(camera: str) -> set[str]:
    return {r["event_type"] for r in SPECS[camera]("eval")["rules"]}


def analyze_fps(camera: str) -> float:
    return float(SPECS[camera]("eval")["analyze_fps"])
