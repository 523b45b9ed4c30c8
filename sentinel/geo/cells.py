"""Grid cells: the street / community / grid polygons of `grid.geojson` (read by `sentinel.geo.grid_file`),
with a point lookup.

Lookup: `GridCells.locate(lon, lat)` returns the grid-level cell that covers the point. A point on a shared
border (or corner) is covered by several cells; the one with the lowest code wins, so the answer does not
depend on the order of the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeAlias

from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.strtree import STRtree

from sentinel.fields.grid_code import CODE_LENGTH, area_of, code_problem, level_of, parent_code
from sentinel.fields.grid_code import AreaLevel as Level

__all__ = [
    "CODE_LENGTH",
    "LEVELS",
    "LEVEL_ZH",
    "PARENT_LEVEL",
    "Geometry",
    "GridCell",
    "GridCells",
    "Level",
    "code_problem",
    "level_of",
    "parent_code",
]

LEVELS: tuple[Level, ...] = ("street", "community", "grid")
PARENT_LEVEL: dict[Level, Level | None] = {"street": None, "community": "street", "grid": "community"}
LEVEL_ZH: dict[Level, str] = {"street": "街道", "community": "社区", "grid": "网格"}

Geometry: TypeAlias = Polygon | MultiPolygon


@dataclass(frozen=True, eq=False)
class GridCell:
    """One street, community or grid polygon (WGS-84 lon/lat)."""

    code: str
    name: str
    level: Level
    parent: str | None  # community → street code, grid → community code, street → division code or None
    geometry: Geometry
    feature: int = -1  # index in the file's `features`
    line: int = 0  # line of the feature's "code" in the file; 0 when unknown

    @property
    def division(self) -> str:
        return area_of(self.code, "division") or self.code

    @property
    def street_code(self) -> str:
        return area_of(self.code, "street") or self.code

    @property
    def community_code(self) -> str | None:
        return area_of(self.code, "community")

    def label(self) -> str:
        return f"{self.level} {self.code} ({self.name})"


class GridCells:
    """All cells by code, with an R-tree per level for point lookup."""

    def __init__(self, cells: Iterable[GridCell] = ()) -> None:
        self._cells: dict[str, GridCell] = {}
        for cell in cells:
            self._cells.setdefault(cell.code, cell)
        self._levels: dict[Level, list[GridCell]] = {
            level: sorted((c for c in self._cells.values() if c.level == level), key=lambda c: c.code)
            for level in LEVELS
        }
        self._trees = {level: STRtree([c.geometry for c in cells]) for level, cells in self._levels.items()}

    def __len__(self) -> int:
        return len(self._cells)

    def __iter__(self) -> Iterator[GridCell]:
        return iter(sorted(self._cells.values(), key=lambda c: c.code))

    def __contains__(self, code: object) -> bool:
        return code in self._cells

    def __getitem__(self, code: str) -> GridCell:
        return self._cells[code]

    def get(self, code: str) -> GridCell | None:
        return self._cells.get(code)

    def level(self, level: Level) -> list[GridCell]:
        """The cells of one level, by code."""
        return list(self._levels[level])

    def children(self, code: str) -> list[GridCell]:
        return [c for c in self if c.parent == code]

    def parents(self, cell: GridCell | str) -> list[GridCell]:
        """The enclosing cells, nearest first (a grid's community, then its street) — those in the data."""
        code = cell.code if isinstance(cell, GridCell) else cell
        out = []
        up = parent_code(code)
        while up is not None:
            if up in self._cells:
                out.append(self._cells[up])
            up = parent_code(up)
        return out

    def locate(self, lon: float, lat: float, level: Level = "grid") -> GridCell | None:
        """The cell of `level` covering the point; on a shared border the lowest code; None outside all."""
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return None
        cells = self._levels[level]
        hits = self._trees[level].query(Point(lon, lat), predicate="intersects")
        return min((cells[int(i)] for i in hits), key=lambda c: c.code, default=None)
