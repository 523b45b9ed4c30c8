"""YAML read with the line of every key, and pydantic errors turned into `FILE:LINE: key.path: message`.

ruamel.yaml's round-trip loader keeps the line of every key and list item, so a pydantic error location
such as `cameras.2.zones.0.polygon` can be turned back into the line a technician has to fix. Shared by every
file a technician writes: the config (`loader.py`) and the grid roster (`sentinel.cases.roster`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from sentinel.detect.rules.registry import rule_kinds


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


def load_yaml(path: Path) -> Any:
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
        raise ConfigError(
            [ConfigIssue(path, line, "", f"invalid YAML: {' '.join(str(exc).split())}")]
        ) from None
    except ValueError as exc:  # a value YAML itself cannot build, e.g. the date 2026-13-01
        raise ConfigError([ConfigIssue(path, 0, "", f"invalid value: {exc}")]) from None


def line_of(node: Any, loc: tuple[int | str, ...]) -> int:
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


def dotted_path(loc: tuple[int | str, ...], node: Any, prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, CommentedSeq) and part < len(node) else None
        elif isinstance(node, CommentedMap) and part not in node and part in rule_kinds():
            continue  # discriminated-union tag, not a key the user wrote
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, CommentedMap) else None
    return out


def issues_from(exc: ValidationError, file: Path, tree: Any) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "union_tag_invalid" and isinstance(err.get("input"), dict):
            msg = f"unknown rule kind {err['input'].get('kind')!r} (known: {', '.join(sorted(rule_kinds()))})"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        issues.append(ConfigIssue(file, line_of(tree, loc), dotted_path(loc, tree), msg))
    return issues


def plain(node: Any) -> Any:
    """Round-trip YAML nodes → plain dicts/lists, so pydantic sees ordinary Python values."""
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, str) else k: plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node
