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


MAX_BYTES = 1024 * 1024  # a config, a camera registry or a roster is a few kilobytes
MAX_VALUES = 1_000_000  # values after aliases are expanded; 1 MiB of YAML without aliases holds fewer


def load_yaml(path: Path) -> Any:
    """Read a technician's YAML file (round-trip, lines kept). Refused with a ConfigError: a file over
    MAX_BYTES, and one whose aliases expand to more than MAX_VALUES values (a "billion laughs")."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)  # never more, even from a device or a pipe
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(path, 0, "", "file not found")]) from None
    except OSError as exc:
        raise ConfigError([ConfigIssue(path, 0, "", f"cannot read: {exc}")]) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(
            [ConfigIssue(path, 0, "", f"file is larger than {MAX_BYTES} bytes (1 MiB): not a config file")]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue(path, 0, "", f"cannot read: {exc}")]) from None
    try:
        tree = YAML(typ="rt").load(text)
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
    except RecursionError:
        raise ConfigError([ConfigIssue(path, 0, "", "invalid YAML: nested too deeply")]) from None
    _check_expansion(path, tree)
    return tree


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [x for kv in node.items() for x in kv]
    if isinstance(node, list):
        return list(node)
    return []


def _check_expansion(path: Path, tree: Any) -> None:
    """Count the values `plain(tree)` would build without building them: an alias shares its anchor's node,
    so each distinct node is sized once (sizes capped just over the limit), in time linear in the file."""
    over = MAX_VALUES + 1
    sizes: dict[int, int] = {}  # id(container) -> its expanded size (capped at `over`)
    open_nodes: set[int] = set()  # containers whose children are being sized: seeing one again is a cycle
    stack: list[tuple[Any, bool]] = [(tree, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            sizes[key] = min(over, 1 + sum(sizes.get(id(c), 1) for c in _children(node)))
            continue
        if key in sizes or not isinstance(node, dict | list):
            continue
        if key in open_nodes:
            _refuse(path, node, "contains itself through a YAML alias")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if isinstance(c, dict | list))
    if sizes.get(id(tree), 1) <= MAX_VALUES:
        return
    node = tree  # the innermost value that is too big on its own: the line to look at
    while True:
        big = [c for c in _children(node) if sizes.get(id(c), 1) > MAX_VALUES]
        if not big:
            break
        node = big[0]
    _refuse(path, node, f"expands to more than {MAX_VALUES} values through YAML aliases: not a config")


def _refuse(path: Path, node: Any, message: str) -> None:
    lc = getattr(node, "lc", None)
    line = lc.line + 1 if lc is not None and isinstance(lc.line, int) else 0
    raise ConfigError([ConfigIssue(path, line, "", message)])


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
