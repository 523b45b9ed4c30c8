"""Checks that need more than the config's own shape: the model card and model file, and whether each
rule's classes exist in the model. Shared by `sentinel check` and `sentinel run`."""

from __future__ import annotations

from pydantic import ValidationError

from sentinel.config.event_types import effective_event_types
from sentinel.config.loader import ConfigIssue, ConfigSource
from sentinel.config.models import SentinelConfig


def preflight(config: SentinelConfig, source: ConfigSource) -> list[ConfigIssue]:
    from sentinel.detect.detectors import ModelError, load_model_card
    from sentinel.detect.rules.registry import registered

    issues: list[ConfigIssue] = []
    for key, override in config.event_types.items():
        try:
            effective_event_types({key: override})
        except ValidationError as exc:
            missing = ", ".join(str(e["loc"][0]) for e in exc.errors())
            issues.append(
                source.issue(
                    ("event_types", key), f"a new event type needs every field; missing or bad: {missing}"
                )
            )
    try:
        card = load_model_card(config.detector.model)
    except ModelError as exc:
        return [*issues, source.issue(("detector", "model"), str(exc))]
    for c_index, camera in enumerate(config.cameras):
        for r_index, rule in enumerate(camera.rules):
            if registered(rule.kind) is None:
                issues.append(
                    source.issue(
                        ("cameras", c_index, "rules", r_index, "kind"),
                        f"rule kind {rule.kind!r} is not implemented yet",
                    )
                )
            for k_index, name in enumerate(getattr(rule, "classes", [])):
                if name not in card.classes:
                    issues.append(
                        source.issue(
                            ("cameras", c_index, "rules", r_index, "classes", k_index),
                            f"the model {config.detector.model.name} has no class {name!r}",
                        )
                    )
    if config.grid.cells is not None or config.grid.roster is not None:
        from sentinel.cases.grid_check import grid_issues

        issues.extend(grid_issues(config, source))
    return issues
