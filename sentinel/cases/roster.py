"""The roster: who answers for each grid cell (网格员, 网格长, community and street duty staff).

`roster.yaml` (see config/roster.yaml for a commented sample):

    people:        {ID: {name, title, phone, wecom, email}}   phone or wecom required
    grids:         {15-digit grid code: {workers: [ID, ...], leader: ID}}   first worker = responsible
    communities:   {12-digit community code: {grid_leader: ID, duty: [ID, ...]}}
    streets:       {9-digit street code: {duty: [ID, ...]}}

Problems are reported as `FILE:LINE: key.path: message`, like the main config. Checked besides the shape:
every referenced person exists; every grid of the grid file has a worker and resolves a grid leader (its own
or its community's); every community and street with grids has duty staff (the escalation chain
worker → grid leader → community → street must not end early); every code exists in the grid file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from sentinel.config.models import Strict
from sentinel.config.yaml_source import (
    ConfigError,
    ConfigIssue,
    dotted_path,
    issues_from,
    line_of,
    load_yaml,
    plain,
)
from sentinel.fields.grid_code import area_of
from sentinel.geo.cells import GridCells, Level, code_problem

_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?|\d{3,8})$")


def _text_only(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f'put phone numbers in quotes ("{value}"): unquoted, YAML reads a number')
    return value


def _phone(value: str) -> str:
    if not _PHONE.match(value.replace(" ", "")):
        raise ValueError(f"not a phone number: {value!r} (mobile 1xxxxxxxxxx, or 0area-number)")
    return value.replace(" ", "")


def _code(level: Level) -> Any:
    def check(value: str) -> str:
        problem = code_problem(value, level)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


Phone = Annotated[str, BeforeValidator(_text_only), AfterValidator(_phone)]
PersonId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64)]
GridCode = Annotated[str, _code("grid")]
CommunityCode = Annotated[str, _code("community")]
StreetCode = Annotated[str, _code("street")]


class PersonEntry(Strict):
    name: str = Field(min_length=1)
    title: str = ""
    phone: Phone | None = None
    wecom: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.@\-]{1,64}$", description="企业微信 userid"
    )
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")

    @model_validator(mode="after")
    def _reachable(self) -> PersonEntry:
        if self.phone is None and self.wecom is None:
            raise ValueError("give a phone or a wecom id: a case needs a way to reach this person")
        return self


class GridEntry(Strict):
    workers: list[PersonId] = Field(min_length=1, description="网格员; the first is the responsible one")
    leader: PersonId | None = Field(default=None, description="网格长; unset: the community's grid_leader")


class CommunityEntry(Strict):
    grid_leader: PersonId | None = None
    duty: list[PersonId] = Field(default_factory=list)


class StreetEntry(Strict):
    duty: list[PersonId] = Field(default_factory=list)


class RosterFile(Strict):
    people: dict[PersonId, PersonEntry]
    grids: dict[GridCode, GridEntry] = Field(default_factory=dict)
    communities: dict[CommunityCode, CommunityEntry] = Field(default_factory=dict)
    streets: dict[StreetCode, StreetEntry] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """A section with every entry commented out (`streets:` alone) is empty."""
        if isinstance(data, dict):
            return {
                k: v for k, v in data.items() if not (v is None and k in {"grids", "communities", "streets"})
            }
        return data


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    title: str = ""
    phone: str | None = None
    wecom: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Responsible:
    """Everyone who answers for one grid, in escalation order."""

    grid: str
    workers: tuple[Person, ...]  # the first is the responsible grid worker
    leader: Person | None  # 网格长
    community_duty: tuple[Person, ...]
    street_duty: tuple[Person, ...]


class Roster:
    """The validated roster, with lookups by grid code."""

    def __init__(self, data: RosterFile) -> None:
        self.data = data
        self.people = {pid: Person(pid, **p.model_dump()) for pid, p in data.people.items()}

    def person(self, person_id: str) -> Person:
        return self.people[person_id]

    def _many(self, ids: Iterable[str]) -> tuple[Person, ...]:
        return tuple(self.people[i] for i in ids if i in self.people)

    def grid_codes(self) -> list[str]:
        return sorted(self.data.grids)

    def for_grid(self, grid_code: str) -> Responsible:
        """Workers, leader and duty staff for a grid; empty where the roster names no one."""
        grid = self.data.grids.get(grid_code)
        community = self.data.communities.get(area_of(grid_code, "community") or "")
        street = self.data.streets.get(area_of(grid_code, "street") or "")
        leader_id = (grid.leader if grid else None) or (community.grid_leader if community else None)
        return Responsible(
            grid=grid_code,
            workers=self._many(grid.workers if grid else ()),
            leader=self.people.get(leader_id) if leader_id else None,
            community_duty=self._many(community.duty if community else ()),
            street_duty=self._many(street.duty if street else ()),
        )


def _str_keys(node: Any) -> Any:
    """Make YAML mapping keys strings in place (an unquoted code is an int key), keeping their line marks."""
    if isinstance(node, CommentedMap):
        for key in [k for k in node if not isinstance(k, str)]:
            mark = node.lc.data.get(key)
            value = node.pop(key)
            node[str(key)] = value
            if mark is not None:
                node.lc.data[str(key)] = mark
        for value in node.values():
            _str_keys(value)
    elif isinstance(node, CommentedSeq):
        for value in node:
            _str_keys(value)
    return node


def read_roster(path: Path | str, cells: GridCells | None = None) -> tuple[Roster | None, list[ConfigIssue]]:
    """Read and check a roster (against `cells` when given); the roster is None when its shape is wrong."""
    file = Path(path)
    try:
        tree = load_yaml(file)
    except ConfigError as exc:
        return None, exc.issues
    if tree is None:
        tree = CommentedMap()
    if not isinstance(tree, CommentedMap):
        return None, [
            ConfigIssue(file, 1, "", "expected a mapping with people:, grids:, communities:, streets:")
        ]
    _str_keys(tree)
    try:
        data = RosterFile.model_validate(plain(tree))
    except ValidationError as exc:
        issues = issues_from(exc, file, tree)
        return None, [ConfigIssue(i.file, i.line, i.path.replace(".[key]", ""), i.message) for i in issues]
    issues = [
        ConfigIssue(file, line_of(tree, loc), dotted_path(loc, tree), message)
        for loc, message in _cross_checks(data, cells)
    ]
    return Roster(data), issues


def load_roster(path: Path | str, cells: GridCells | None = None) -> Roster:
    """Read a roster; raise ConfigError listing every problem."""
    roster, issues = read_roster(path, cells)
    if issues or roster is None:
        raise ConfigError(issues)
    return roster


Loc = tuple[int | str, ...]


def _cross_checks(data: RosterFile, cells: GridCells | None) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []

    def refs(loc: Loc, ids: list[str]) -> None:
        for k, pid in enumerate(ids):
            if pid not in data.people:
                out.append(((*loc, k), f"unknown person {pid!r} (not under people:)"))
            elif pid in ids[:k]:
                out.append(((*loc, k), f"{pid!r} is listed twice"))

    def ref(loc: Loc, pid: str | None) -> None:
        if pid is not None and pid not in data.people:
            out.append((loc, f"unknown person {pid!r} (not under people:)"))

    # grids that count: those of the grid file when there is one (unknown codes are reported below, once)
    known = {c.code for c in cells.level("grid")} if cells is not None else set(data.grids)
    for code, grid in data.grids.items():
        refs(("grids", code, "workers"), grid.workers)
        ref(("grids", code, "leader"), grid.leader)
        community_code = area_of(code, "community") or ""
        community = data.communities.get(community_code)
        if code in known and grid.leader is None and (community is None or community.grid_leader is None):
            out.append(
                (
                    ("grids", code),
                    f"grid {code} has no grid leader (set leader: here, or grid_leader: under "
                    f"communities: {community_code})",
                )
            )
    for code, community in data.communities.items():
        ref(("communities", code, "grid_leader"), community.grid_leader)
        refs(("communities", code, "duty"), community.duty)
    for code, street in data.streets.items():
        refs(("streets", code, "duty"), street.duty)

    for community_code in sorted({area_of(g, "community") or "" for g in known} - {""}):
        entry = data.communities.get(community_code)
        if entry is None or not entry.duty:
            loc: Loc = ("communities", community_code) if entry is not None else ("communities",)
            out.append(
                (
                    loc,
                    f"community {community_code} has no duty staff (add duty: [...] under communities: {community_code})",
                )
            )
    for street_code in sorted({area_of(g, "street") or "" for g in known} - {""}):
        street_entry = data.streets.get(street_code)
        if street_entry is None or not street_entry.duty:
            loc = ("streets", street_code) if street_entry is not None else ("streets",)
            out.append(
                (
                    loc,
                    f"street {street_code} has no duty staff (add duty: [...] under streets: {street_code})",
                )
            )

    if cells is not None:
        sections = (
            ("grids", "grid", data.grids),
            ("communities", "community", data.communities),
            ("streets", "street", data.streets),
        )
        for section, level, entries in sections:
            for code in entries:
                if code not in cells:
                    out.append(((section, code), f"unknown {level} {code}: not in the grid file"))
        for cell in cells.level("grid"):
            if cell.code not in data.grids:
                out.append(
                    (("grids",), f"grid {cell.code} ({cell.name}) has no grid worker (add it under grids:)")
                )
    return out
