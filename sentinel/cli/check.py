"""Checks that need more than the config's own shape: the model card and model file, and whether each
rule's classes exist in the model. Shared by `sentinel check` and `sentinel run`; `sentinel check` and
`sentinel replay` also open every model with the detector loader and run it once on a blank picture."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sentinel.config.event_types import effective_event_types
from sentinel.config.loader import ConfigIssue, ConfigSource
from sentinel.config.models import CameraConfig, SentinelConfig


def preflight(config: SentinelConfig, source: ConfigSource, open_models: bool = False) -> list[ConfigIssue]:
    from sentinel.detect.detectors import DEFAULT_DETECTOR, ModelCardBase, ModelError, load_model_card
    from sentinel.detect.rules.registry import registered, rule_detector

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
    cards: dict[str, ModelCardBase] = {}
    for name, settings in config.detector_settings().items():
        loc: tuple[str, ...] = (
            ("detector", "model") if name == DEFAULT_DETECTOR else ("detectors", name, "model")
        )
        try:
            cards[name] = load_model_card(settings.model)
        except ModelError as exc:
            issues.append(source.issue(loc, str(exc)))
    if len(cards) < len(config.detector_settings()):
        return issues
    if open_models:
        issues.extend(model_issues(config, source))
    for c_index, camera in enumerate(config.cameras):
        for r_index, rule in enumerate(camera.rules):
            if registered(rule.kind) is None:
                issues.append(
                    source.issue(
                        ("cameras", c_index, "rules", r_index, "kind"),
                        f"rule kind {rule.kind!r} is not implemented yet",
                    )
                )
            name = rule_detector(camera, rule)
            card = cards.get(name)
            if card is None:
                continue  # an unknown detector name: the loader reported it with its line
            model = config.detector_settings()[name].model
            which = "" if name == DEFAULT_DETECTOR else f" (detector {name!r})"
            for k_index, class_name in enumerate(getattr(rule, "classes", [])):
                if class_name not in card.classes:
                    issues.append(
                        source.issue(
                            ("cameras", c_index, "rules", r_index, "classes", k_index),
                            f"the model {model.name}{which} has no class {class_name!r}",
                        )
                    )
        issues.extend(filter_class_issues(camera, c_index, cards, source))
        issues.extend(ocr_issues(camera, c_index, source, open_models))
    if config.grid.cells is not None or config.grid.roster is not None:
        from sentinel.cases.grid_check import grid_issues

        issues.extend(grid_issues(config, source))
    return issues


def filter_class_issues(
    camera: CameraConfig, c_index: int, cards: Mapping[str, Any], source: ConfigSource
) -> list[ConfigIssue]:
    """Each class the camera's `detection_filter` names must be a class of one of the camera's detectors."""
    from sentinel.detect.rules.registry import rule_detector

    names = {camera.detector, *(rule_detector(camera, rule) for rule in camera.rules)}
    known = {c for name in names if name in cards for c in cards[name].classes}
    filt = camera.detection_filter
    where: list[tuple[tuple[str | int, ...], str]] = [(("classes", c), c) for c in filt.classes]
    where += [
        (("masks", m, "classes", k), c)
        for m, mask in enumerate(filt.masks)
        for k, c in enumerate(mask.classes)
    ]
    return [
        source.issue(
            ("cameras", c_index, "detection_filter", *loc), f"no detector of this camera has class {c!r}"
        )
        for loc, c in where
        if c not in known
    ]


def ocr_issues(
    camera: CameraConfig, c_index: int, source: ConfigSource, open_models: bool
) -> list[ConfigIssue]:
    """A rule that reads text (`ocr_models`: posted_text) must find its OCR model files; with `open_models`
    (`sentinel check`, replay) the model is loaded as the worker would load it."""
    from sentinel.detect.text_reader import TextReader, TextReaderError, missing_model_file

    issues: list[ConfigIssue] = []
    for r_index, rule in enumerate(camera.rules):
        if "ocr_models" not in type(rule).model_fields:
            continue
        model_dir = getattr(rule, "ocr_models", None)
        problem = missing_model_file(model_dir) if model_dir is not None else None
        if problem is None and open_models:
            try:
                TextReader(model_dir)
            except TextReaderError as exc:
                problem = str(exc)
        if problem is not None:
            issues.append(source.issue(("cameras", c_index, "rules", r_index, "ocr_models"), problem))
    return issues


def model_issues(config: SentinelConfig, source: ConfigSource) -> list[ConfigIssue]:
    """Open every configured model as a worker would (`load_detector`: session, input, outputs checked
    against the card) and run one inference on a blank picture; a failure names its key and the file."""
    import numpy as np

    from sentinel.detect.detectors import DEFAULT_DETECTOR, ModelError, load_detector

    issues: list[ConfigIssue] = []
    blank = np.zeros((480, 640, 3), dtype=np.uint8)
    for name, settings in config.detector_settings().items():
        loc: tuple[str, ...] = (
            ("detector", "model") if name == DEFAULT_DETECTOR else ("detectors", name, "model")
        )
        try:
            load_detector(settings).detect([blank])
        except ModelError as exc:
            issues.append(source.issue(loc, _naming(settings.model, str(exc))))
        except Exception as exc:  # onnxruntime's own errors, a backend that cannot decode what it got
            what = f"the model does not run on a blank picture: {type(exc).__name__}: {exc}"
            issues.append(source.issue(loc, _naming(settings.model, what)))
    return issues


def _naming(card: Path, message: str) -> str:
    message = " ".join(message.split())
    return message if str(card) in message or ".onnx" in message else f"{card}: {message}"


def tile_lines(config: SentinelConfig) -> list[str]:
    """Per camera with `detect_tiles`, where its zone tiles go for the camera's detector and a 1280x720 frame
    (the layout is made again for the stream's own size when it starts; the worker logs it)."""
    from sentinel.detect.detectors import ModelError, load_model_card
    from sentinel.detect.tiles import plan_tiles

    lines: list[str] = []
    for camera in config.cameras:
        if not camera.detect_tiles:
            continue
        settings = config.detector_settings().get(camera.detector)
        try:
            spec = load_model_card(settings.model).input if settings is not None else None
        except ModelError:
            spec = None  # reported by preflight
        if spec is None:
            continue
        polygons = {z.name: z.polygon for z in camera.zones}
        zones = [(name, polygons[name]) for name in camera.detect_tiles]
        layout = plan_tiles((1280, 720), (spec.width, spec.height), zones)
        lines.append(f"  {camera.id}: {layout.describe()}")
    if lines:
        lines.insert(0, "detector tiles (for a 1280x720 frame, at the detector's input size):")
    return lines


def schedule_lines(config: SentinelConfig) -> list[str]:
    """Per camera, its scheduled rules and its profiles in words (site time), for `sentinel check`:
    `  plaza-north: vending (dwell, road_vending) armed Mon-Fri 07:00-22:00`. Cameras without either: none."""
    from sentinel.detect.schedule import describe_schedule

    lines: list[str] = []
    for camera in config.cameras:
        rows = [
            f"rule {rule.name or index} ({rule.kind}, {rule.event_type}) armed {describe_schedule(rule.schedule)}"
            for index, rule in enumerate(camera.rules)
            if rule.schedule
        ]
        for name, profile in camera.profiles.items():
            changes = "; ".join(
                f"{rule} {', '.join(f'{k}={v}' for k, v in values.items())}"
                for rule, values in profile.rules.items()
            )
            rows.append(f"profile {name} {describe_schedule(profile.schedule)}: {changes}")
        lines += [f"  {camera.id}: {row}" for row in rows]
    if lines:
        lines.insert(0, f"schedules (site time, {config.site.timezone}):")
    return lines


def rate_lines(config: SentinelConfig) -> list[str]:
    """Per camera whose rate is not simply its `analyze_fps`, why, for `sentinel check`: a rule asking for a
    higher rate (`camera gate analysed at 2 fps: rule crossing (line_crossing) asks for it`), and the
    adaptive range while the picture is still."""
    from sentinel.detect.schedule import describe_schedule

    gate_on = config.detector.motion_gate.enabled
    lines: list[str] = []
    for camera in config.cameras:
        asks = [(i, r, float(getattr(r, "analyze_fps", None) or 0)) for i, r in enumerate(camera.rules)]
        asks = [ask for ask in asks if ask[2] > 0]
        top = max([camera.analyze_fps] + [wanted for _, _, wanted in asks])
        for index, rule, wanted in asks:
            if wanted > camera.analyze_fps and wanted == top:
                when = f" (while armed {describe_schedule(rule.schedule)})" if rule.schedule else ""
                lines.append(
                    f"  camera {camera.id} analysed at {wanted:g} fps: rule {rule.name or index} ({rule.kind}) "
                    f"asks for it{when}"
                )
        floor = camera.analysis_floor
        if floor < camera.analyze_fps:
            row = (
                f"  camera {camera.id} adaptive: {camera.analyze_fps:g} fps on motion, halving after each "
                f"{camera.slow_after:g} s still down to {floor:g} fps"
            )
            if asks:
                row += " (never below an armed rule's ask)"
            if not gate_on:
                row += "; no effect: detector.motion_gate is off, so no motion is judged"
            lines.append(row)
    if lines:
        lines.insert(0, "analysis rates:")
    return lines
