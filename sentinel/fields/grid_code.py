"""The grid cell code (网格编码): 15 digits that hold the cell's whole ancestry,
6 county-level division (区划) + 3 street (街道) + 3 community (社区) + 3 grid (网格), e.g. 110101 001 002 003.

A street is named by the first 9 digits, a community by the first 12; every part of the house that needs a
cell's street or community takes it from here instead of slicing the string. It sits at the bottom (with the
other field types) because alerts and config name grid cells too, and they are below `sentinel.geo`, which
re-exports it as part of the geography.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

AreaLevel = Literal["street", "community", "grid"]
# how many leading digits name an area of each level
CODE_LENGTH: dict[AreaLevel, int] = {"street": 9, "community": 12, "grid": 15}
# the parts of a code: name, first digit, end (exclusive)
CODE_PARTS: tuple[tuple[str, int, int], ...] = (
    ("division", 0, 6),
    ("street", 6, 9),
    ("community", 9, 12),
    ("grid", 12, 15),
)
_DIGITS = re.compile(r"^[0-9]+$")


def level_of(code: str) -> AreaLevel | None:
    """The level a code's length implies (None for other lengths)."""
    for level, n in CODE_LENGTH.items():
        if len(code) == n:
            return level
    return None


def area_of(code: str, level: AreaLevel | Literal["division"]) -> str | None:
    """The code of the enclosing area of `level` (the code itself at its own level); None when the code is
    too short to hold it (a street code has no community)."""
    n = 6 if level == "division" else CODE_LENGTH[level]
    return code[:n] if len(code) >= n else None


def parent_code(code: str) -> str | None:
    """The enclosing cell's code: a grid's community, a community's street; None for a street."""
    level = level_of(code)
    return code[:-3] if level in ("community", "grid") else None


def code_problem(code: object, level: AreaLevel) -> str | None:
    """Why `code` is not a valid code for `level` (digits, length, no all-zero part); None when it is."""
    if not isinstance(code, str):
        return f"must be a string of digits (put it in quotes), got {code!r}"
    n = CODE_LENGTH[level]
    parts = " + ".join(f"{end - start} {name}" for name, start, end in CODE_PARTS if end <= n)
    if not _DIGITS.match(code) or len(code) != n:
        return f"a {level} code has {n} digits ({parts}), got {code!r}"
    for name, start, end in CODE_PARTS:
        if end <= n and set(code[start:end]) == {"0"}:
            return f"the {name} part of {code} (digits {start + 1}–{end}) is all zeros"
    return None


@dataclass(frozen=True, order=True)
class GridCode:
    """A grid cell's 15-digit code; `str()` gives it back as written."""

    code: str

    def __post_init__(self) -> None:
        if not (len(self.code) == CODE_LENGTH["grid"] and _DIGITS.match(self.code)):
            raise ValueError(
                f"a grid code has 15 digits (6 division + 3 street + 3 community + 3 grid), got {self.code!r}"
            )

    @classmethod
    def parse(cls, text: str | GridCode) -> GridCode:
        """The code in `text` (surrounding blanks ignored); ValueError when it is not 15 digits."""
        if isinstance(text, GridCode):
            return text
        if not isinstance(text, str):
            raise ValueError(f"a grid code is a string of 15 digits, got {text!r}")
        return cls(text.strip())

    @classmethod
    def of(cls, text: str | None) -> GridCode | None:
        """The code in `text`, or None when there is none (empty, or not a 15-digit grid code: a street or
        community code, say)."""
        try:
            return cls.parse(text) if text else None
        except ValueError:
            return None

    @classmethod
    def problem(cls, text: object) -> str | None:
        """Why `text` is not a usable grid code (also an all-zero part, as the grid file is checked); None
        when it is. `parse` accepts codes with a zero part: other systems issue them."""
        return code_problem(text, "grid")

    @property
    def district(self) -> str:
        """The 6-digit county-level division code (区划代码)."""
        return self.code[:6]

    @property
    def street(self) -> str:
        """The street's 9-digit code."""
        return self.code[:9]

    @property
    def community(self) -> str:
        """The community's 12-digit code."""
        return self.code[:12]

    def __str__(self) -> str:
        return self.code
