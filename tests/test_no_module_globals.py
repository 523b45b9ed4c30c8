"""No module under `sentinel/` keeps state that another module sets: no `global` statement (a function that
rebinds a module-level name, as `alerts.models.set_this_node` once did for the cluster code), and no
assignment to an attribute of an imported module (`models._this_node = ...`, `setattr(models, ...)`).
What a part needs, it is given through its constructor (sentinel.daemon.compose).

Every module is read with `ast`; a finding names the file and line. A justified exception would be listed in
ALLOWED with its reason.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "sentinel"

# (file, name) -> why a `global` of that name is needed; only a module's own cache, never state for others
ALLOWED: dict[tuple[str, str], str] = {
    ("sentinel/config/schema.py", "_schema_models"): "the rule kinds the config schema was last compiled "
    "with, a cache rebound only by that module's own refresh_rule_schema()",
}


def _is_module(dotted: str) -> bool:
    """`sentinel.a.b` names a module or package of the tree at ROOT (not a class or function in one)."""
    parts = dotted.split(".")
    if parts[0] != ROOT.name:
        return True  # `from os import path`: outside the tree, treat a from-import of a module name alike
    base = ROOT.joinpath(*parts[1:])
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` as a string, None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head is not None else None
    return None


def _module_names(tree: ast.Module) -> set[str]:
    """Local names (and dotted paths, for `import a.b`) bound to imported modules, anywhere in the file."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if node.module.startswith(ROOT.name) and _is_module(f"{node.module}.{alias.name}"):
                    names.add(alias.asname or alias.name)
    return names


def _findings(root: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        modules = _module_names(tree)
        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Global):
                names = [n for n in node.names if (str(rel), n) not in ALLOWED]
                if names:
                    found.append(f"{where}: `global {', '.join(names)}` rebinds module state from a function")
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                owner = _dotted(target.value) if isinstance(target, ast.Attribute) else None
                if owner is not None and owner in modules:
                    found.append(f"{where}: sets {owner}.{getattr(target, 'attr', '')} of another module")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr":
                owner = _dotted(node.args[0]) if node.args else None
                if owner is not None and owner in modules:
                    found.append(f"{where}: setattr on module {owner}")
    found.sort(key=lambda f: (f.split(":")[0], int(f.split(":")[1])))
    return found


def test_no_module_state_set_from_outside() -> None:
    findings = _findings(ROOT)
    assert not findings, "\n".join(findings)


def test_allowed_entries_are_current() -> None:
    """An ALLOWED entry must still name a `global` statement of that file (the list cannot go stale)."""
    used = set()
    for file, name in ALLOWED:
        tree = ast.parse(Path(ROOT.parent, file).read_text(encoding="utf-8"))
        if any(isinstance(n, ast.Global) and name in n.names for n in ast.walk(tree)):
            used.add((file, name))
    assert used == set(ALLOWED), f"no longer needed, drop from ALLOWED: {sorted(set(ALLOWED) - used)}"


def test_the_check_catches_each_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself: a `global`, an attribute set on an imported module and a setattr on one are each
    reported with file and line; a class attribute and a local object's attribute are not."""
    fake = tmp_path / "sentinel"
    (fake / "alerts").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "alerts" / "__init__.py").write_text("")
    (fake / "alerts" / "models.py").write_text(
        "_node = None\n\n\ndef set_node(n):\n    global _node\n    _node = n\n\n\nclass Row:\n    node = None\n"
    )
    (fake / "cluster.py").write_text(
        "from sentinel.alerts import models\n"
        "from sentinel.alerts.models import Row\n"
        "import sentinel.alerts.models as m\n"
        "import sentinel.alerts.models\n\n\n"
        "def join(n, row):\n"
        "    models._node = n\n"
        "    setattr(m, '_node', n)\n"
        "    Row.node = n\n"
        "    row.node = n\n"
        "    sentinel.alerts.models._node = n\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    assert _findings(fake) == [
        "sentinel/alerts/models.py:5: `global _node` rebinds module state from a function",
        "sentinel/cluster.py:8: sets models._node of another module",
        "sentinel/cluster.py:9: setattr on module m",
        "sentinel/cluster.py:12: sets sentinel.alerts.models._node of another module",
    ]
