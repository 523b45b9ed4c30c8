"""The one place rule kinds are registered: kind -> (parameter model, rule factory).

The config's `rules:` union (discriminated by `kind`), the list of known kinds and `build_rules` all come
from here, so a new kind is its own module plus one `register_rule_kind` line below (and an event type row
in `sentinel/data/event_types.yaml` if it raises a new type). A kind registered at run time (a plug-in, a
test) is taken up by the config loader on its next load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol, Union, get_args

from pydantic import Field

from sentinel.detect.rules.base import Rule, RuleEnv, RuleParams
from sentinel.detect.rules.camera_health import CameraHealth, CameraHealthParams
from sentinel.detect.rules.count_in_zone import CountInZone, CountInZoneParams
from sentinel.detect.rules.dwell import Dwell, DwellParams
from sentinel.detect.rules.line_crossing import LineCrossing, LineCrossingParams
from sentinel.detect.rules.posted_text import PostedText, PostedTextParams
from sentinel.detect.rules.scene_change import SceneChange, SceneChangeParams
from sentinel.detect.rules.static_object import StaticObject, StaticObjectParams
from sentinel.detect.rules.stationary_count import StationaryCount, StationaryCountParams
from sentinel.detect.settings import Zone
from sentinel.detect.zones import ZoneArea

# (parameters, the zone the rule watches, the camera's environment) -> a rule
RuleFactory = Callable[[Any, ZoneArea, RuleEnv], Rule]


@dataclass(frozen=True)
class RuleKind:
    kind: str  # the `kind:` a config writes
    params: type[RuleParams]
    build: RuleFactory


_kinds: dict[str, RuleKind] = {}


def kind_of(params: type[RuleParams]) -> str:
    """The tag a parameter model declares as `kind: Literal["..."]`."""
    field = params.model_fields.get("kind")
    tags = get_args(field.annotation) if field is not None else ()
    if len(tags) != 1 or not isinstance(tags[0], str):
        raise TypeError(f"{params.__name__} must declare kind: Literal['<kind>'] (one string)")
    return tags[0]


def register_rule_kind(params: type[RuleParams], build: RuleFactory) -> RuleKind:
    """Add a rule kind; registering the same model again is a no-op, another model under a taken kind is
    an error (two modules claiming one `kind:` would make the config ambiguous)."""
    entry = RuleKind(kind_of(params), params, build)
    known = _kinds.get(entry.kind)
    if known is not None and known.params is not params:
        raise ValueError(f"rule kind {entry.kind!r} is already registered by {known.params.__name__}")
    _kinds[entry.kind] = entry
    return entry


def unregister_rule_kind(kind: str) -> None:
    """Remove a kind (a test's plug-in, after the test)."""
    _kinds.pop(kind, None)


def rule_kinds() -> tuple[str, ...]:
    """The registered kinds, in registration order (the order of the config's union)."""
    return tuple(_kinds)


def registered(kind: str) -> RuleKind | None:
    return _kinds.get(kind)


def rule_params_union() -> Any:
    """The type of one entry of a camera's `rules:` list: the registered parameter models, told apart by
    `kind`. Rebuilt whenever asked, so it reflects kinds registered since."""
    models = tuple(k.params for k in _kinds.values())
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007 (a tuple of types at run time)


class RuledCamera(Protocol):
    """What building a camera's rules reads of its config entry."""

    @property
    def id(self) -> str: ...

    @property
    def zones(self) -> Sequence[Zone]: ...

    @property
    def rules(self) -> Sequence[RuleParams]: ...

    @property
    def detector(self) -> str: ...


def rule_detector(camera: RuledCamera, params: RuleParams) -> str:
    """The name of the detector whose boxes a rule reads: its own choice, else its camera's."""
    return params.detector or camera.detector


def camera_detectors(camera: RuledCamera) -> list[str]:
    """The detectors a camera runs, in the order its rules first name them; a camera with no rules runs its
    own (its boxes are still tracked and shown, e.g. in replay's annotated video)."""
    names = [rule_detector(camera, params) for params in camera.rules] or [camera.detector]
    return list(dict.fromkeys(names))


def build_rules(
    camera: RuledCamera, class_names: list[str] | Mapping[str, list[str]], state_dir: Path | None = None
) -> list[Rule]:
    """The rule objects for a camera; raises ValueError for a kind that is not registered. `class_names`:
    the classes of each detector the camera runs, by name (a plain list: one detector for all its rules)."""
    zones = {z.name: z for z in camera.zones}
    rules: list[Rule] = []
    for params in camera.rules:
        entry = _kinds.get(params.kind)
        if entry is None or not isinstance(params, entry.params):
            raise ValueError(f"rule kind {params.kind!r} is not registered")
        if isinstance(class_names, Mapping):
            name = rule_detector(camera, params)
            if name not in class_names:
                raise ValueError(f"rule {params.kind} reads detector {name!r}, which is not loaded")
            names = class_names[name]
        else:
            names = class_names
        env = RuleEnv(camera.id, names, state_dir)
        rule = entry.build(params, ZoneArea(zones[params.zone] if params.zone else None), env)
        if not isinstance(getattr(rule, "uses_image", None), bool):  # the pipeline reads it on every frame
            raise TypeError(f"rule kind {params.kind!r}: its rule must set uses_image (True or False)")
        rules.append(rule)
    return rules


# the shipped kinds: one line each
register_rule_kind(CountInZoneParams, CountInZone)
register_rule_kind(DwellParams, Dwell)
register_rule_kind(LineCrossingParams, LineCrossing)
register_rule_kind(StaticObjectParams, StaticObject)
register_rule_kind(SceneChangeParams, SceneChange)
register_rule_kind(CameraHealthParams, CameraHealth)
register_rule_kind(PostedTextParams, PostedText)
register_rule_kind(StationaryCountParams, StationaryCount)
