"""The one place that ties a model card's `backend` to its card model and detector class.

Adding a detector kind: write its module (a card subclass of `ModelCardBase` with `backend: Literal[...]`,
and an `OnnxDetector` subclass with `card_type` set to it), then add one line to `_BACKENDS` below, or call
`register_backend` from outside (a site's own plug-in; tests/test_detector_plugin.py does that).
The card schema (`card_adapter`) is built from this table, so the card union never lists kinds by hand.
"""

from __future__ import annotations

import functools
import operator
import typing
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from sentinel.detect.detectors.cards import ModelCardBase, ModelError
from sentinel.detect.detectors.generic import GenericOnnxDetector
from sentinel.detect.detectors.nanodet import NanoDetDetector
from sentinel.detect.detectors.onnx_base import OnnxDetector
from sentinel.detect.detectors.yolo import YoloDetector

_BACKENDS: dict[str, type[OnnxDetector]] = {
    "nanodet": NanoDetDetector,
    "yolov5": YoloDetector,
    "yolov8": YoloDetector,
    "yolov11": YoloDetector,  # the v8 output layout
    "generic": GenericOnnxDetector,
}


def _card_backends(card_type: type[ModelCardBase]) -> tuple[str, ...]:
    """The names a card type's `backend: Literal[...]` field admits."""
    return tuple(typing.get_args(card_type.model_fields["backend"].annotation))


def register_backend(name: str, detector_type: type[OnnxDetector]) -> None:
    """Make `backend: <name>` cards load with `detector_type` (its `card_type` must admit that name)."""
    if not (isinstance(detector_type, type) and issubclass(detector_type, OnnxDetector)):
        raise TypeError(f"{detector_type!r} is not an OnnxDetector subclass")
    admitted = _card_backends(detector_type.card_type)
    if name not in admitted:
        raise ValueError(
            f"{detector_type.card_type.__name__}.backend admits {list(admitted)}, not {name!r}: "
            f"declare `backend: Literal[{name!r}]` on the card"
        )
    known = _BACKENDS.get(name)
    if known is not None and known is not detector_type:
        raise ValueError(f"backend {name!r} is already {known.__name__}")
    _BACKENDS[name] = detector_type
    card_adapter.cache_clear()


def unregister_backend(name: str) -> None:
    """Forget a registered backend (a plug-in's test cleans up after itself)."""
    _BACKENDS.pop(name, None)
    card_adapter.cache_clear()


def backend_names() -> tuple[str, ...]:
    """Every `backend` a card may name, in registration order."""
    return tuple(_BACKENDS)


def detector_type_for(backend: str) -> type[OnnxDetector]:
    try:
        return _BACKENDS[backend]
    except KeyError:
        raise ModelError(f"unknown detector backend {backend!r} (known: {', '.join(_BACKENDS)})") from None


@functools.cache
def card_adapter() -> TypeAdapter[Any]:
    """Validates any registered card: a union of the card types, discriminated by `backend`."""
    card_types = list(dict.fromkeys(t.card_type for t in _BACKENDS.values()))
    if len(card_types) == 1:
        return TypeAdapter(card_types[0])
    union: Any = functools.reduce(operator.or_, card_types)
    return TypeAdapter(Annotated[union, Field(discriminator="backend")])
