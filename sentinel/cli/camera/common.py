"""What the `sentinel camera` commands share: one-line failures with exit codes, passwords from the
environment, masked stream errors, and the camera entries of a config file read as written."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sentinel.cli.common import EXIT_USAGE, CliError
from sentinel.fields import ENV_REF
from sentinel.ingest.source import mask_secrets
from sentinel.ingest.sources import Source


def fail(exc: CliError) -> int:
    print(f"sentinel camera: {exc}", file=sys.stderr)
    return exc.code


def password_from_env(var: str | None) -> str:
    if var is None:
        return ""
    if not ENV_REF.fullmatch(f"${{{var}}}"):
        raise CliError(f"--password-env wants a variable name (like CAM_PASSWORD), got {var!r}", EXIT_USAGE)
    if var not in os.environ:
        raise CliError(f"environment variable {var} is not set (export {var}=... first)", EXIT_USAGE)
    return os.environ[var]


def stream_error(exc: BaseException, source: Source, secrets: list[str]) -> str:
    """The source's one-line error, also scrubbed of `secrets` (a password given on the side)."""
    return mask_secrets(source.describe_error(exc), secrets)


def host_port(text: str, default_port: int) -> tuple[str, int]:
    from sentinel.ingest.url_patterns import split_host_port

    try:
        return split_host_port(text, default_port)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def raw_cameras(config: Path) -> list[dict[str, Any]]:
    """Camera entries as written (no validation: other cameras' unset passwords must not get in the way)."""
    yaml = YAML(typ="safe", pure=True)

    def load(path: Path) -> Any:
        try:
            return yaml.load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CliError(f"{path}: file not found", EXIT_USAGE) from None
        except (OSError, YAMLError) as exc:
            raise CliError(f"{path}: cannot read: {exc}", EXIT_USAGE) from None

    tree = load(config) or {}
    if not isinstance(tree, dict):
        raise CliError(f"{config}: expected a mapping at the top level", EXIT_USAGE)
    if isinstance(tree.get("cameras_file"), str):
        tree = load(config.parent / tree["cameras_file"]) or {}
    cameras = tree.get("cameras") if isinstance(tree, dict) else None
    return [c for c in cameras or [] if isinstance(c, dict)]
