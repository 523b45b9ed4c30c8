"""Load YAML config files and report every problem as `FILE:LINE: key.path: message`.

ruamel.yaml's round-trip loader keeps the line of every key and list item, so a pydantic error location
such as `cameras.2.zones.0.polygon` can be turned back into the line a technician has to fix
(`yaml_source.py`). Here: the config file and its camera registry, the checks across them, relative paths.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from sentinel.config.camera import DEFER_PROFILES, CameraConfig
from sentinel.config.event_types import default_event_types
from sentinel.config.profiles import profile_problems
from sentinel.config.schema import SentinelConfig, refresh_rule_schema
from sentinel.config.yaml_source import (
    ConfigError,
    ConfigIssue,
    dotted_path,
    issues_from,
    line_of,
    load_yaml,
    plain,
)
from sentinel.detect.settings import DEFAULT_DETECTOR

__all__ = ["ConfigError", "ConfigIssue", "ConfigSource", "load_config", "load_config_source"]


@dataclass(frozen=True)
class ConfigSource:
    """Where each setting was written, for checks made after validation (model file, classes, ...)."""

    path: Path
    tree: Any
    cameras_path: Path
    cameras_tree: Any

    def issue(self, loc: tuple[int | str, ...], message: str) -> ConfigIssue:
        if loc and loc[0] == "cameras":
            node = self.cameras_tree
            return ConfigIssue(
                self.cameras_path,
                line_of(node, loc[1:]),
                dotted_path(loc, CommentedMap(cameras=node)),
                message,
            )
        return ConfigIssue(self.path, line_of(self.tree, loc), dotted_path(loc, self.tree), message)


def load_config(
    path: Path | str, *, cameras: bool = True, sections: Collection[str] | None = None
) -> SentinelConfig:
    """Load and validate a config file (and its `cameras_file`); raise ConfigError listing every problem.
    `cameras=False`: the camera registry is not read at all (commands about users or the database do not
    need it, nor the camera passwords' environment variables). `sections`: only these top-level sections are
    read (e.g. `database`, `storage`, `console`); the others keep their defaults and are not validated, so
    the MQTT password's or the webhook secret's environment variable need not be set. None: all of them."""
    return load_config_source(path, cameras=cameras, sections=sections)[0]


def load_config_source(
    path: Path | str, *, cameras: bool = True, sections: Collection[str] | None = None
) -> tuple[SentinelConfig, ConfigSource]:
    path = Path(path)
    with_cameras = cameras and (sections is None or "cameras" in sections)
    refresh_rule_schema()  # take up rule kinds registered since the schema was built
    tree = load_yaml(path)
    if tree is None:
        tree = CommentedMap()
    if not isinstance(tree, CommentedMap):
        raise ConfigError([ConfigIssue(path, 1, "", "expected a mapping of settings at the top level")])

    issues: list[ConfigIssue] = []
    data = plain(tree)
    cameras_tree: Any = tree.get("cameras") if with_cameras else None
    cameras_file = path
    if with_cameras and "cameras_file" in data and isinstance(data["cameras_file"], str):
        if "cameras" in data:
            issues.append(
                ConfigIssue(
                    path,
                    line_of(tree, ("cameras",)),
                    "cameras",
                    "give either cameras or cameras_file, not both",
                )
            )
        cameras_file = path.parent / data["cameras_file"]
        if not cameras_file.is_file():
            # told at the key that names it: the technician's typo is there, not in a file that does not exist
            where = line_of(tree, ("cameras_file",))
            raise ConfigError(
                issues + [ConfigIssue(path, where, "cameras_file", f"file not found: {cameras_file}")]
            )
        try:
            cam_root = load_yaml(cameras_file)
        except ConfigError as exc:
            raise ConfigError(issues + exc.issues) from None
        if cam_root is None:
            cameras_tree = CommentedSeq()
        elif isinstance(cam_root, CommentedMap) and set(cam_root) <= {"cameras"}:
            cameras_tree = cam_root.get("cameras") or CommentedSeq()
        else:
            raise ConfigError(
                issues
                + [ConfigIssue(cameras_file, 1, "", "expected a top-level 'cameras:' list and nothing else")]
            )

    main_data = {k: v for k, v in data.items() if k != "cameras" and (sections is None or k in sections)}
    config: SentinelConfig | None
    try:
        config = SentinelConfig.model_validate(main_data)
    except ValidationError as exc:
        issues.extend(issues_from(exc, path, tree))
        config = None

    found: list[CameraConfig] = []
    if cameras_tree is not None:
        if not isinstance(cameras_tree, CommentedSeq):
            line = cameras_tree.lc.line + 1 if isinstance(cameras_tree, CommentedMap) else 0
            issues.append(ConfigIssue(cameras_file, line, "cameras", "expected a list of cameras"))
        else:
            for index, cam_node in enumerate(cameras_tree):
                try:
                    camera = CameraConfig.model_validate(plain(cam_node), context={DEFER_PROFILES: True})
                    problems = profile_problems(camera.rules, camera.profiles)
                    issues += [
                        ConfigIssue(
                            cameras_file, line_of(cam_node, loc), f"cameras[{index}].{dotted_path(loc, cam_node)}",
                            message,
                        )
                        for loc, message in problems
                    ]  # fmt: skip
                    found.append(camera)
                except ValidationError as exc:
                    for issue in issues_from(exc, cameras_file, cam_node):
                        issues.append(
                            ConfigIssue(
                                issue.file,
                                issue.line or line_of(cameras_tree, (index,)),  # a scalar: its item's line
                                f"cameras[{index}].{issue.path}".rstrip("."),
                                issue.message,
                            )
                        )
            issues.extend(
                _cross_checks(
                    cameras_tree,
                    cameras_file,
                    site_types=tree.get("event_types"),
                    detectors=tree.get("detectors"),
                )
            )

    if issues:
        raise ConfigError(sorted(issues, key=lambda i: (str(i.file), i.line)))
    assert config is not None
    source = ConfigSource(
        path, tree, cameras_file, cameras_tree if cameras_tree is not None else CommentedSeq()
    )
    return _resolved(config.model_copy(update={"cameras": found}), path.parent), source


def _cross_checks(
    tree: CommentedSeq, file: Path, site_types: Any = None, detectors: Any = None
) -> list[ConfigIssue]:
    """Checks across cameras, made on the raw YAML so they run even where a camera failed validation."""
    issues: list[ConfigIssue] = []
    first_index: dict[str, int] = {}
    known_types = set(default_event_types()) | (set(site_types) if isinstance(site_types, dict) else set())
    known_detectors = {DEFAULT_DETECTOR} | (set(detectors) if isinstance(detectors, dict) else set())

    def detector_known(node: CommentedMap, loc: tuple[int | str, ...]) -> None:
        name = node.get("detector")
        if isinstance(name, str) and name not in known_detectors:
            issues.append(
                ConfigIssue(
                    file, line_of(tree, (*loc, "detector")), f"cameras{dotted_path(loc, tree)}.detector",
                    f"unknown detector {name!r} (known: {', '.join(sorted(known_detectors))}; "
                    "add it under `detectors:` in the main config)",
                )
            )  # fmt: skip

    for index, node in enumerate(tree):
        if not isinstance(node, CommentedMap):
            continue
        cam_id = node.get("id")
        if isinstance(cam_id, str):
            if cam_id in first_index:
                issues.append(
                    ConfigIssue(
                        file,
                        line_of(node, ("id",)),
                        f"cameras[{index}].id",
                        f"duplicate camera id {cam_id!r} (first used at cameras[{first_index[cam_id]}])",
                    )
                )
            else:
                first_index[cam_id] = index
        detector_known(node, (index,))
        rules = node.get("rules")
        for r_index, rule in enumerate(rules if isinstance(rules, CommentedSeq) else []):
            if isinstance(rule, CommentedMap):
                detector_known(rule, (index, "rules", r_index))
            event_type = rule.get("event_type") if isinstance(rule, CommentedMap) else None
            if isinstance(event_type, str) and event_type not in known_types:
                issues.append(
                    ConfigIssue(
                        file,
                        line_of(node, ("rules", r_index, "event_type")),
                        f"cameras[{index}].rules[{r_index}].event_type",
                        f"unknown event type {event_type!r} (known: {', '.join(sorted(known_types))})",
                    )
                )
    return issues


def _resolved(config: SentinelConfig, base: Path) -> SentinelConfig:
    """Relative paths in a config file are relative to that file's directory."""

    def fix(p: Path) -> Path:
        return p if p.is_absolute() else (base / p).resolve()

    return config.model_copy(
        update={
            "storage": config.storage.model_copy(update={"data_dir": fix(config.storage.data_dir)}),
            "detector": config.detector.model_copy(update={"model": fix(config.detector.model)}),
            "detectors": {
                name: d.model_copy(update={"model": fix(d.model)}) for name, d in config.detectors.items()
            },
            "grid": config.grid.model_copy(
                update={
                    "cells": fix(config.grid.cells) if config.grid.cells else None,
                    "roster": fix(config.grid.roster) if config.grid.roster else None,
                }
            ),
        }
    )
