"""Reading and checking `grid.geojson`: the street / community / grid cells it holds, every problem reported
with its FILE:LINE.

File format (RFC 7946 GeoJSON FeatureCollection, WGS-84 [lon, lat]):
  - one Feature per cell, geometry Polygon or MultiPolygon, properties:
      code    string of digits, its length fixed by the level (a prefix code, stored as given):
                street     9 digits = 6 county-level division + 3 street          110101001
                community 12 digits = street code + 3 community                  110101001001
                grid      15 digits = community code + 3 grid (单元网格标识码)      110101001001001
              no 3-digit part may be 000;
      name    display name (Chinese), required;
      level   street | community | grid;
      parent  the code of the enclosing cell: a grid's community (its first 12 digits), a community's street
              (its first 9); optional (then taken from the code) but must match it when given. A street's
              parent, when given, is its 6-digit division code, which has no feature of its own.
    Other properties are ignored (GIS tools add their own).
  - optional top-level member "datum": "wgs84" (default) | "gcj02" | "bd09": polygons drawn on a Chinese web
    map are converted to WGS-84 on load (see `geolocate`).
Rules checked: grids tile their community and communities tile their street, i.e. a child lies inside its
parent, siblings do not overlap, and children leave no gap — each up to `area_tolerance_m2`
(`sentinel.geo.tiling`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import shapely
from shapely.geometry import MultiPolygon, Polygon

from sentinel.config.loader import ConfigError, ConfigIssue
from sentinel.fields.grid_code import area_of
from sentinel.geo.cells import LEVELS, Geometry, GridCell, GridCells, Level, code_problem, parent_code
from sentinel.geo.geolocate import DATUMS, Datum, to_wgs84
from sentinel.geo.tiling import check_tiling


class _Bad(ValueError):
    pass


def _position(pos: Any) -> tuple[float, float]:
    ok = isinstance(pos, list) and len(pos) in (2, 3)
    if not ok or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos):
        raise _Bad(f"a position is [lon, lat] (two numbers), got {json.dumps(pos)[:40]}")
    lon, lat = float(pos[0]), float(pos[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise _Bad("a coordinate is not a finite number")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        if -90 <= lon <= 90 and -180 <= lat <= 180:
            raise _Bad(f"position [{lon}, {lat}] looks like [lat, lon]; GeoJSON positions are [lon, lat]")
        raise _Bad(
            f"position [{lon}, {lat}] is not WGS-84 degrees (projected metres? convert to lon/lat first)"
        )
    return lon, lat


def _ring(coords: Any, datum: Datum) -> list[tuple[float, float]]:
    if not isinstance(coords, list) or len(coords) < 4:
        raise _Bad("a polygon ring needs at least 4 positions (the last repeating the first)")
    pts = [_position(p) for p in coords]
    if pts[0] != pts[-1]:
        raise _Bad("a polygon ring is not closed (its last position must repeat the first)")
    return [to_wgs84(lon, lat, datum) for lon, lat in pts] if datum != "wgs84" else pts


def _polygon(coords: Any, datum: Datum) -> Polygon:
    if not isinstance(coords, list) or not coords:
        raise _Bad("a polygon is a list of rings (outer ring first)")
    rings = [_ring(r, datum) for r in coords]
    return Polygon(rings[0], rings[1:])


def _geometry(geom: Any, datum: Datum) -> Geometry:
    if not isinstance(geom, dict):
        raise _Bad("missing geometry (a Polygon or MultiPolygon)")
    kind, coords = geom.get("type"), geom.get("coordinates")
    if kind == "Polygon":
        shape: Geometry = _polygon(coords, datum)
    elif kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise _Bad("a MultiPolygon is a list of polygons")
        shape = MultiPolygon([_polygon(c, datum) for c in coords])
    else:
        raise _Bad(f"geometry must be a Polygon or MultiPolygon, got {kind!r}")
    reason = shapely.is_valid_reason(shape)
    if reason != "Valid Geometry":
        raise _Bad(f"invalid polygon: {_explain(reason)}")
    return shape


def _explain(reason: str) -> str:
    m = re.match(r"^(.*)\[([-\d.e+]+) ([-\d.e+]+)\]$", reason)
    if not m:
        return reason
    hint = " (check the order of the points)" if "Self-intersection" in m.group(1) else ""
    return f"{m.group(1)} at lon {float(m.group(2)):.6f}, lat {float(m.group(3)):.6f}{hint}"


def _code_lines(text: str) -> list[tuple[str, int]]:
    """Every `"code": "..."` in the text with its 1-based line (cheap stand-in for a JSON parser with marks)."""
    return [
        (m.group(1), text.count("\n", 0, m.start()) + 1)
        for m in re.finditer(r'"code"\s*:\s*"([^"\\]*)"', text)
    ]


@dataclass
class _Reader:
    file: Path
    tolerance: float
    issues: list[ConfigIssue]
    lines: dict[int, int]

    def issue(self, index: int | None, key: str, message: str, cell: GridCell | None = None) -> None:
        path = "" if index is None else f"features[{index}]" + (f".{key}" if key else "")
        line = cell.line if cell is not None else self.lines.get(index, 0) if index is not None else 0
        self.issues.append(ConfigIssue(self.file, line, path, message))

    def cell_issue(self, cell: GridCell, key: str, message: str) -> None:
        self.issue(cell.feature, key, f"{cell.label()}: {message}", cell)


def read_cells(path: Path | str, *, area_tolerance_m2: float = 1.0) -> tuple[GridCells, list[ConfigIssue]]:
    """Read and check a grid file; returns the cells that could be read and every problem found."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return GridCells(), [ConfigIssue(file, 0, "", "file not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return GridCells(), [ConfigIssue(file, 0, "", f"cannot read: {exc}")]
    return parse_cells(text, file, area_tolerance_m2=area_tolerance_m2)


def load_cells(path: Path | str, *, area_tolerance_m2: float = 1.0) -> GridCells:
    """Read a grid file; raise ConfigError listing every problem."""
    cells, issues = read_cells(path, area_tolerance_m2=area_tolerance_m2)
    if issues:
        raise ConfigError(issues)
    return cells


def parse_cells(
    text: str, file: Path | str = "grid.geojson", *, area_tolerance_m2: float = 1.0
) -> tuple[GridCells, list[ConfigIssue]]:
    file = Path(file)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return GridCells(), [ConfigIssue(file, exc.lineno, "", f"invalid JSON: {exc.msg}")]
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        return GridCells(), [ConfigIssue(file, 1, "", "expected a GeoJSON FeatureCollection")]
    features = doc.get("features")
    if not isinstance(features, list):
        return GridCells(), [ConfigIssue(file, 1, "features", "expected a list of features")]
    datum = doc.get("datum", "wgs84")
    if datum not in DATUMS:
        return GridCells(), [
            ConfigIssue(file, 1, "datum", f"unknown datum {datum!r} (known: {', '.join(DATUMS)})")
        ]
    crs = json.dumps(doc.get("crs", "")).upper()
    if "crs" in doc and not any(k in crs for k in ("CRS84", "4326", "4490")):
        return GridCells(), [
            ConfigIssue(file, 1, "crs", "coordinates must be WGS-84 (or CGCS2000) lon/lat degrees")
        ]
    lines = _feature_lines(features, _code_lines(text))
    reader = _Reader(file, area_tolerance_m2, [], lines)
    cells, dropped = _read_features(features, reader, cast(Datum, datum))
    check_tiling(cells, dropped, reader.tolerance, reader.cell_issue)
    return GridCells(cells), reader.issues


def _feature_lines(features: list[Any], found: list[tuple[str, int]]) -> dict[int, int]:
    lines: dict[int, int] = {}
    at = 0
    for index, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        code = props.get("code") if isinstance(props, dict) else None
        if not isinstance(code, str):
            continue
        for k in range(at, len(found)):
            if found[k][0] == code:
                lines[index] = found[k][1]
                at = k + 1
                break
    return lines


def _read_features(features: list[Any], reader: _Reader, datum: Datum) -> tuple[list[GridCell], set[str]]:
    cells: list[GridCell] = []
    seen: dict[str, int] = {}
    dropped: set[str] = set()  # codes (and parents) of features that could not be read
    for index, feature in enumerate(features):
        cell = _read_feature(index, feature, reader, datum, seen)
        if cell is not None:
            cells.append(cell)
            continue
        props = feature.get("properties") if isinstance(feature, dict) else None
        props = props if isinstance(props, dict) else {}
        code, parent = props.get("code"), props.get("parent")
        dropped.update(c for c in (code, parent) if isinstance(c, str))
        if isinstance(code, str):
            implied = parent_code(code)  # the parent its code implies
            if implied is not None:
                dropped.add(implied)
    return cells, dropped


def _read_feature(
    index: int, feature: Any, reader: _Reader, datum: Datum, seen: dict[str, int]
) -> GridCell | None:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        reader.issue(index, "", 'expected a GeoJSON Feature ({"type": "Feature", ...})')
        return None
    props = feature.get("properties")
    if not isinstance(props, dict):
        reader.issue(index, "properties", "missing properties (code, name, level, parent)")
        return None
    code, level, name = props.get("code"), props.get("level"), props.get("name")
    if level not in LEVELS:
        reader.issue(index, "properties.level", f"level must be street, community or grid, got {level!r}")
        return None
    lvl = cast(Level, level)
    problem = code_problem(code, lvl) if code is not None else "missing"
    if problem:
        reader.issue(index, "properties.code", f"code: {problem}")
        return None
    assert isinstance(code, str)
    if code in seen:
        reader.issue(index, "properties.code", f"code {code} is used twice (first at features[{seen[code]}])")
        return None
    seen[code] = index
    if not isinstance(name, str) or not name.strip():
        reader.issue(index, "properties.name", f"{lvl} {code}: missing name")
        return None
    parent = _parent(props.get("parent"), code, lvl, index, reader)
    if parent is False:
        return None
    try:
        geometry = _geometry(feature.get("geometry"), datum)
    except _Bad as exc:
        reader.issue(index, "geometry", f"{lvl} {code} ({name}): {exc}")
        return None
    return GridCell(code, name.strip(), lvl, parent, geometry, index, reader.lines.get(index, 0))


def _parent(value: Any, code: str, level: Level, index: int, reader: _Reader) -> str | None | Literal[False]:
    """The checked parent code; False after reporting a problem."""
    expected = (area_of(code, "division") if level == "street" else parent_code(code)) or ""
    if value is None:
        return None if level == "street" else expected
    if value != expected:
        what = (
            "its 6-digit division code"
            if level == "street"
            else f"the first {len(expected)} digits of the code"
        )
        reader.issue(
            index, "properties.parent", f"{level} {code}: parent must be {expected} ({what}), got {value!r}"
        )
        return False
    return expected
