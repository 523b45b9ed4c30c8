"""Load YAML config files and report every problem as `FILE:LINE: key.path: message`.

ruamel.yaml's round-trip loader keeps the line of every key and list item, so a pydantic error location
such as `cameras.2.zones.0.polygon` can be turned back into the line a technician has to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from sentinel.config.event_types import default_event_types
from sentinel.config.models import RULE_KINDS, CameraConfig, SentinelConfig


@dataclass(frozen=True)
class ConfigIssue:
    file: Path
    line: int  # 1-based; 0 when unknown
    path: str  # dotted key path, e.g. cameras[2].zones[0].polygon
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """One or more problems in the config; `str()` lists them one per line."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def _load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(path, 0, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(path, 0, "", f"cannot read: {exc}")]) from None
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([ConfigIssue(path, line, "", f"invalid YAML: {problem}")]) from None
    except YAMLError as exc:  # e.g. a control character (ReaderError: knows the position, not the line)
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else 0
        raise ConfigError([ConfigIssue(path, line, "", f"invalid YAML: {' '.join(str(exc).split())}")]) from None
    except ValueError as exc:  # a value YAML itself cannot build, e.g. the date 2026-13-01
        raise ConfigError([ConfigIssue(path, 0, "", f"invalid value: {exc}")]) from None


def _line_of(node: Any, loc: tuple[int | str, ...]) -> int:
    """Walk the YAML tree along a pydantic error location; return the deepest known 1-based line."""
    line = 0
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedMap | CommentedSeq) and not (isinstance(part, int)):
            # a discriminator tag (e.g. 'count_in_zone') or a key that is missing: stay on this node
            continue
        else:
            break
    if line == 0 and isinstance(node, CommentedMap | CommentedSeq):
        line = node.lc.line + 1
    return line


def _dotted(loc: tuple[int | str, ...], node: Any, prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, CommentedSeq) and part < len(node) else None
        elif isinstance(node, CommentedMap) and part not in node and part in _TAGS:
            continue  # discriminated-union tag, not a key the user wrote
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, CommentedMap) else None
    return out


_TAGS = set(RULE_KINDS)


def _issues_from(exc: ValidationError, file: Path, tree: Any) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "union_tag_invalid" and isinstance(err.get("input"), dict):
            msg = f"unknown rule kind {err['input'].get('kind')!r} (known: {', '.join(sorted(_TAGS))})"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        issues.append(ConfigIssue(file, _line_of(tree, loc), _dotted(loc, tree), msg))
    return issues


def _plain(node: Any) -> Any:
    """Round-trip YAML nodes → plain dicts/lists, so pydantic sees ordinary Python values."""
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


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
                self.cameras_path, _line_of(node, loc[1:]), _dotted(loc, CommentedMap(cameras=node)), message
            )
        return ConfigIssue(self.path, _line_of(self.tree, loc), _dotted(loc, self.tree), message)


def load_config(path: Path | str) -> SentinelConfig:
    """Load and validate a config file (and its `cameras_file`); raise ConfigError listing every problem."""
    return load_config_source(path)[0]


def load_config_source(path: Path | str) -> tuple[SentinelConfig, ConfigSource]:
    path = Path(path)
    tree = _load_yaml(path)
    if tree is None:
        tree = CommentedMap()
    if not isinstance(tree, CommentedMap):
        raise ConfigError([ConfigIssue(path, 1, "", "expected a mapping of settings at the top level")])

    issues: list[ConfigIssue] = []
    data = _plain(tree)
    cameras_tree: Any = tree.get("cameras")
    cameras_file = path
    if "cameras_file" in data and isinstance(data["cameras_file"], str):
        if "cameras" in data:
            issues.append(
                ConfigIssue(
                    path,
                    _line_of(tree, ("cameras",)),
                    "cameras",
                    "give either cameras or cameras_file, not both",
                )
            )
        cameras_file = path.parent / data["cameras_file"]
        try:
            cam_root = _load_yaml(cameras_file)
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

    main_data = {k: v for k, v in data.items() if k != "cameras"}
    config: SentinelConfig | None
    try:
        config = SentinelConfig.model_validate(main_data)
    except ValidationError as exc:
        issues.extend(_issues_from(exc, path, tree))
        config = None

    cameras: list[CameraConfig] = []
    if cameras_tree is not None:
        if not isinstance(cameras_tree, CommentedSeq):
            line = cameras_tree.lc.line + 1 if isinstance(cameras_tree, CommentedMap) else 0
            issues.append(ConfigIssue(cameras_file, line, "cameras", "expected a list of cameras"))
        else:
            for index, cam_node in enumerate(cameras_tree):
                try:
                    cameras.append(CameraConfig.model_validate(_plain(cam_node)))
                except ValidationError as exc:
                    for issue in _issues_from(exc, cameras_file, cam_node):
                        issues.append(
                            ConfigIssue(
                                issue.file,
                                issue.line,
                                f"cameras[{index}].{issue.path}".rstrip("."),
                                issue.message,
                            )
                        )
            issues.extend(_cross_checks(cameras_tree, cameras_file, site_types=tree.get("event_types")))

    if issues:
        raise ConfigError(sorted(issues, key=lambda i: (str(i.file), i.line)))
    assert config is not None
    source = ConfigSource(
        path, tree, cameras_file, cameras_tree if cameras_tree is not None else CommentedSeq()
    )
    return _resolved(config.model_copy(update={"cameras": cameras}), path.parent), source


def _cross_checks(tree: CommentedSeq, file: Path, site_types: Any = None) -> list[ConfigIssue]:
    """Checks across cameras, made on the raw YAML so they run even where a camera failed validation."""
    issues: list[ConfigIssue] = []
    first_index: dict[str, int] = {}
    known_types = set(default_event_types()) | (set(site_types) if isinstance(site_types, dict) else set())
    for index, node in enumerate(tree):
        if not isinstance(node, CommentedMap):
            continue
        cam_id = node.get("id")
        if isinstance(cam_id, str):
            if cam_id in first_index:
                issues.append(
                    ConfigIssue(
                        file,
                        _line_of(node, ("id",)),
                        f"cameras[{index}].id",
                        f"duplicate camera id {cam_id!r} (first used at cameras[{first_index[cam_id]}])",
                    )
                )
            else:
                first_index[cam_id] = index
        rules = node.get("rules")
        for r_index, rule in enumerate(rules if isinstance(rules, CommentedSeq) else []):
            event_type = rule.get("event_type") if isinstance(rule, CommentedMap) else None
            if isinstance(event_type, str) and event_type not in known_types:
                issues.append(
                    ConfigIssue(
                        file,
                        _line_of(node, ("rules", r_index, "event_type")),
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
            "grid": config.grid.model_copy(
                update={
                    "cells": fix(config.grid.cells) if config.grid.cells else None,
                    "roster": fix(config.grid.roster) if config.grid.roster else None,
                }
            ),
        }
    )
