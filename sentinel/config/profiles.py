"""Checks of a camera's parameter `profiles:` against its rules: each profile names rules by their `name:`
and sets only fields of that rule kind's parameters, to values the kind accepts. Each problem comes with
its location under the camera (`profiles.night.rules.crowd.min_count`), so the loader can name its line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from sentinel.detect.rules import RuleParams
from sentinel.detect.schedule import FIXED_BY_PROFILE, ParamProfile, with_overrides

Problem = tuple[tuple[int | str, ...], str]  # (location under the camera, message)


def profile_problems(rules: Sequence[RuleParams], profiles: Mapping[str, ParamProfile]) -> list[Problem]:
    problems: list[Problem] = []
    by_name = {r.name: r for r in rules if r.name is not None}
    for p_name, profile in profiles.items():
        for r_name, values in profile.rules.items():
            at = ("profiles", p_name, "rules", r_name)
            rule = by_name.get(r_name)
            if rule is None:
                known = ", ".join(sorted(by_name)) or "none: give the rule a `name:`"
                problems.append((at, f"no rule of this camera is named {r_name!r} (named rules: {known})"))
                continue
            fields = type(rule).model_fields
            bad = False
            for key in values:
                if key in FIXED_BY_PROFILE:
                    problems.append(((*at, key), f"a profile cannot change {key} (it tunes parameters only)"))
                    bad = True
                elif key not in fields:
                    problems.append(((*at, key), f"rule kind {rule.kind} has no parameter {key!r}"))
                    bad = True
            if bad:
                continue
            try:
                with_overrides(rule, values)
            except ValidationError as exc:
                for err in exc.errors():
                    loc = tuple(err["loc"])
                    msg = str(err["msg"]).removeprefix("Value error, ")
                    problems.append(((*at, *loc[:1]) if loc and loc[0] in values else at, msg))
    return problems
