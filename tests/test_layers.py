"""The house's layer order: a package imports only packages below it (docs/architecture.md).

Every `import` in every module under `sentinel/` is read with `ast` -- also the ones inside functions, which
are still dependencies -- and an import of a higher layer fails the test, naming the file and line.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "sentinel"

# bottom to top; a package may import itself and anything listed before it
LAYERS = [
    "fields",  # the field types every settings model uses: durations, sizes, ${ENV} strings, Strict
    "storage",  # SQLAlchemy Base, open_database, migrations, outbox rows (and its own settings)
    "mqtt",  # transport: topics, outbox publisher, embedded broker (and its own settings)
    "ingest",  # sources, reader, packet ring, ONVIF (and the stream settings)
    "detect",  # detectors, tracker, background models, zones, rules (each rule kind with its parameters)
    "config",  # composes the parts' settings into the config file's schema; the YAML loader
    "pipeline",  # CameraPipeline: frame -> gate -> detector -> tracker -> rules -> outcomes + evidence
    "alerts",  # alert value, schema, snapshots, clip paths, alert + outbox recording
    "geo",  # grid cells, GridCode, geolocation, placement
    "cases",  # state machine, engine, routing, calendar, timers, commands, KPIs
    "cluster",  # leases, fencing, leader, membership
    "console",  # FastAPI app
    "replay",  # `sentinel replay` runner
    "daemon",  # composition root, workers, camera scheduler
    "demo",  # `sentinel demo`: its footage builder and the demo grid worker
    "cli",  # the `sentinel` command
]
SHARED = {"sentinel", "sentinel.data"}  # the version string and packaged data files: anyone may read them

# Known upward imports still being taken apart. Each entry is (importing module, imported module); the list
# only ever shrinks, and the test fails on an entry that no longer occurs (so it cannot go stale).
KNOWN: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "sentinel":  # `from sentinel import cli` names a package
                found.extend((node.lineno, f"sentinel.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name == "sentinel" or name.startswith("sentinel.")]


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2 or module in SHARED or parts[1] == "data":
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else -1


def _violations() -> tuple[list[str], set[tuple[str, str]], list[str]]:
    upward: list[str] = []
    seen: set[tuple[str, str]] = set()
    unplaced: list[str] = []
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts and "versions" in path.parts:
            continue
        me = _module_name(path)
        mine = _layer(me)
        if mine == -1:
            unplaced.append(f"{path.relative_to(ROOT.parent)}: module outside every layer")
            continue
        if mine is None:
            continue
        for line, name in _imports(path):
            theirs = _layer(name)
            if theirs is None or theirs <= mine:
                continue
            if (me, name) in KNOWN:
                seen.add((me, name))
                continue
            upward.append(
                f"{path.relative_to(ROOT.parent)}:{line}: {LAYERS[mine]} imports {name} ({LAYERS[theirs]} is higher)"
            )
    return upward, seen, unplaced


def test_no_upward_imports() -> None:
    upward, seen, unplaced = _violations()
    assert not unplaced, "\n".join(unplaced)
    assert not upward, "\n".join(upward)
    stale = KNOWN - seen
    assert not stale, f"no longer imported, drop from KNOWN: {sorted(stale)}"


def test_the_check_catches_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself: an ingest module importing the daemon is reported with its file and line."""
    fake = tmp_path / "sentinel"
    (fake / "ingest").mkdir(parents=True)
    (fake / "ingest" / "bad.py").write_text(
        "import os\n\n\ndef f():\n    from sentinel.daemon import worker\n"
    )
    (fake / "detect").mkdir()
    (fake / "detect" / "ok.py").write_text("from sentinel.ingest import bad\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    upward, _, unplaced = _violations()
    assert upward == ["sentinel/ingest/bad.py:5: ingest imports sentinel.daemon (daemon is higher)"]
    assert unplaced == []
