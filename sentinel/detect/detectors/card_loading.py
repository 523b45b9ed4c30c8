"""Reading a model card from disk: YAML -> the card model its `backend` names, and the model file check.

Every failure is a `ModelError` with a one-line message naming the file, e.g.
`model file not found: models/x.onnx (named by models/x.yaml)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sentinel.detect.detectors.cards import ModelCardBase, ModelError
from sentinel.detect.detectors.class_names import with_classes
from sentinel.detect.detectors.registry import backend_names, card_adapter
from sentinel.detect.detectors.session import one_line, read_metadata


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelError(f"model card not found: {path}")
    try:
        raw: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as e:
        raise ModelError(f"model card unreadable: {path}: {one_line(str(e))}") from e
    if not isinstance(raw, dict):
        raise ModelError(f"model card unreadable: {path}: expected a mapping at the top level")
    return raw


def _validate(raw: dict[str, Any], path: Path) -> ModelCardBase:
    backend = raw.get("backend")
    known_names = backend_names()
    known = ", ".join(known_names)
    if backend is None:
        raise ModelError(f"invalid model card {path}: backend: missing (one of {known})")
    if not isinstance(backend, str) or backend not in known_names:
        raise ModelError(f"unknown detector backend {backend!r} in model card {path} (known: {known})")
    try:
        card: ModelCardBase = card_adapter().validate_python(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = list(first["loc"])
        if loc and loc[0] == backend:  # the discriminated union puts the tag first
            loc = loc[1:]
        where = ".".join(str(p) for p in loc) or "(top level)"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ModelError(f"invalid model card {path}: {where}: {one_line(first['msg'])}{more}") from e
    return card.loaded_from(path)


def load_model_card(path: Path | str, *, resolve_classes: bool = True) -> ModelCardBase:
    """Read and validate a card; raise ModelError if it or the model file it names is missing or bad.

    With `resolve_classes` (the default) a card without `classes` gets them from the model's metadata
    (this opens the model); detectors pass False and resolve them from their own session."""
    path = Path(path)
    card = _validate(_read_yaml(path), path)
    if not card.model_path.is_file():
        raise ModelError(f"model file not found: {card.model_path} (named by {path})")
    if resolve_classes and not card.classes:
        card = with_classes(card, card.model_path, read_metadata(card.model_path))
    return card
