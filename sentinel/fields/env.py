"""`${VAR}` references in settings: a password stays in the environment, not in the config file."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace `${VAR}` references; raises KeyError naming the first unset variable."""
    env = os.environ if environ is None else environ

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            raise KeyError(name)
        return env[name]

    return ENV_REF.sub(sub, text)


def check_env_refs(value: str) -> str:
    """`value` unchanged if every `${VAR}` in it is set; else a ValueError naming the first that is not.
    The reference itself is kept: it is expanded only where the secret is used, never in the model."""
    for name in ENV_REF.findall(value):
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
    return value


def _expand_path(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return expand_env(value)
        except KeyError as exc:
            raise ValueError(f"environment variable {exc.args[0]} is not set") from None
    return value


# a string that may hold ${VAR} references (checked by the model that knows when they matter)
EnvString = Annotated[str, Field(min_length=1)]
# a path whose ${VAR} references are expanded when the config is read
EnvPath = Annotated[Path, BeforeValidator(_expand_path)]
