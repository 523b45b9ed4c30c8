"""A model's class list: the card's own, else the `names` metadata that Ultralytics writes into exports."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from sentinel.detect.detectors.cards import ModelCardBase, ModelError

Card = TypeVar("Card", bound=ModelCardBase)


def parse_class_names(text: str) -> list[str]:
    """Class names from an ONNX metadata `names` value: a Python literal (Ultralytics writes a dict
    "{0: 'person', 1: 'bicycle'}"; a list is accepted too), parsed with `ast.literal_eval` only.

    Raises ValueError unless it is a non-empty list of unique strings, or a dict of them keyed 0..n-1."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        raise ValueError(f"not a Python literal ({type(e).__name__})") from None
    if isinstance(value, dict):
        keys = sorted(value) if all(isinstance(k, int) and not isinstance(k, bool) for k in value) else None
        if keys != list(range(len(value))):
            raise ValueError("a dict of names must be keyed 0..n-1")
        names = [value[k] for k in keys]
    elif isinstance(value, list | tuple):
        names = list(value)
    else:
        raise ValueError(f"expected a dict or list, got {type(value).__name__}")
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError("expected a non-empty list of non-empty strings")
    if len(set(names)) != len(names):
        raise ValueError("names must be unique")
    return names


def class_names_from_metadata(metadata: Mapping[str, str], model_path: Path) -> list[str] | None:
    """The `names` entry of the model's custom metadata, parsed; None if there is none."""
    text = metadata.get("names")
    if text is None:
        return None
    try:
        return parse_class_names(text)
    except ValueError as e:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ModelError(f"model {model_path} has unusable metadata names {shown!r}: {e}") from None


def with_classes(card: Card, model_path: Path, metadata: Mapping[str, str]) -> Card:
    """The card itself if it lists classes, else a copy with the classes from the model's metadata."""
    if card.classes:
        return card
    names = class_names_from_metadata(metadata, model_path)
    if names is None:
        named = f" {card.source}" if card.source else ""
        raise ModelError(
            f"model card{named} lists no classes and model {model_path} has no 'names' metadata: "
            "add `classes:` to the card"
        )
    return card.model_copy(update={"classes": names}).loaded_from(card.source)
