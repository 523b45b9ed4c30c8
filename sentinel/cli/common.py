"""What every `sentinel` command group shares: exit codes, the default config path and its `--config`
option, and the one-line error a command raises to stop with a message instead of a traceback."""

from __future__ import annotations

import argparse
from pathlib import Path

EXIT_RUNTIME = 1  # the command could not do its work (a stream, a broker, a database...)
EXIT_CONFIG = 2  # the config or the command line is wrong: the message names what to fix
EXIT_USAGE = EXIT_CONFIG
DEFAULT_CONFIG = Path("config/sentinel.yaml")


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.code = code


def add_config_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})"
    )
    return parser


def config_parent() -> argparse.ArgumentParser:
    """A parent parser holding `--config`, for subcommands that all read the config."""
    return add_config_option(argparse.ArgumentParser(add_help=False))


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """ "1 camera", "2 cameras", "0 rules"."""
    return f"{n} {noun if n == 1 else plural_form or noun + 's'}"
