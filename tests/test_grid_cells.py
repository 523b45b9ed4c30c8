"""Grid cells: the sample file, point lookup (borders included) and every validation error with its message."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Point

from sentinel.config.loader import ConfigError, ConfigIssue, load_config
from sentinel.geo.cells import GridCells, code_problem
from sentinel.geo.geolocate import wgs84_to_gcj02
from sentinel.geo.grid_file import load_cells, read_cells

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "config" / "grid.geojson"

# A small street: one community, two grids side by side (≈ 85 m × 111 m each).
X0, Y0, D = 116.400, 39.900, 0.001
STREET, COMMUNITY, GRID_A, GRID_B = "110101001", "110101001001", "110101001001001", "110101001001002"


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[list[float]]]:
    ring = [[X0 + x0 * D, Y0 + y0 * D], [X0 + x1 * D, Y0 + y0 * D], [X0 + x1 * D, Y0 + y1 * D]]
    ring += [[X0 + x0 * D, Y0 + y1 * D], [X0 + x0 * D, Y0 + y0 * D]]
    return [ring]


def feature(code: Any, name: str, level: str, coords: Any, parent: Any = None) -> dict[str, Any]:
    props: dict[str, Any] = {"code": code, "name": name, "level": level}
    if parent is not None:
        props["parent"] = parent
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": coords}}


def base() -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            feature(STREET, "示例街道", "street", box(0, 0, 2, 1), "110101"),
            feature(COMMUNITY, "示例社区", "community", box(0, 0, 2, 1), STREET),
            feature(GRID_A, "第一网格", "grid", box(0, 0, 1, 1), COMMUNITY),
            feature(GRID_B, "第二网格", "grid", box(1, 0, 2, 1), COMMUNITY),
        ],
    }


def check(tmp_path: Path, doc: Any) -> tuple[GridCells, list[ConfigIssue]]:
    path = tmp_path / "grid.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    return read_cells(path)


def only_message(tmp_path: Path, doc: Any) -> str:
    _, issues = check(tmp_path, doc)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0].message


def set_geometry(doc: dict[str, Any], index: int, coords: Any) -> dict[str, Any]:
    doc["features"][index]["geometry"]["coordinates"] = coords
    return doc


# ---------------------------------------------------------------- the sample data


def test_sample_grid_is_clean_and_holds_the_sample_cameras() -> None:
    cells = load_cells(SAMPLE)
    assert [len(cells.level(level)) for level in ("street", "community", "grid")] == [1, 3, 10]
    assert {c.code for c in cells.children("110101001")} == {"110101001001", "110101001002", "110101001003"}
    config = load_config(REPO / "config" / "sentinel.yaml")
    assert len(config.cameras) == 2
    for camera in config.cameras:
        assert camera.grid is not None and camera.location is not None
        assert camera.grid in cells
        found = cells.locate(camera.location.lon, camera.location.lat)
        assert found is not None and found.code == camera.grid, camera.id


def test_locate_inside_outside_and_parents() -> None:
    cells = load_cells(SAMPLE)
    cell = cells.locate(116.3975, 39.9087)
    assert cell is not None and (cell.code, cell.name, cell.level) == (
        "110101001001001",
        "天街社区第一网格",
        "grid",
    )
    assert [p.code for p in cells.parents(cell)] == ["110101001001", "110101001"]
    assert (cell.division, cell.street_code, cell.community_code) == ("110101", "110101001", "110101001001")
    community = cells.locate(116.3975, 39.9087, level="community")
    assert community is not None and community.code == "110101001001"
    assert cells.locate(116.3900, 39.9000) is None  # outside the street
    assert cells.locate(float("nan"), 39.9) is None
    north = cells.locate(116.4010, 39.9120)  # the diagonal border inside 御河社区
    assert north is not None and north.code == "110101001003002"


# ---------------------------------------------------------------- borders


def test_a_point_on_a_shared_border_goes_to_one_cell_deterministically(tmp_path: Path) -> None:
    cells = load_cells(SAMPLE)
    edge = (116.3984, 39.9080)  # the border between grids 001 and 002 of 天街社区
    corner = (116.3984, 39.9070)  # the corner of grids 001, 002 and 004
    between_communities = (116.4000, 39.9085)  # 天街社区第二网格 | 池畔社区第一网格
    for (lon, lat), expected in (
        (edge, "110101001001001"),
        (corner, "110101001001001"),
        (between_communities, "110101001001002"),
    ):
        covering = [c.code for c in cells.level("grid") if c.geometry.covers(Point(lon, lat))]
        assert len(covering) >= 2, "not really on a border"
        found = cells.locate(lon, lat)
        assert found is not None and found.code == min(covering) == expected
    east = cells.locate(116.3984 + 1e-9, 39.9080)
    assert east is not None and east.code == "110101001001002"

    # the same data with the features in reverse order gives the same answers
    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    doc["features"].reverse()
    reversed_cells, issues = check(tmp_path, doc)
    assert issues == []
    for lon, lat in (edge, corner, between_communities, (116.4008, 39.9100), (116.4040, 39.9130)):
        a, b = cells.locate(lon, lat), reversed_cells.locate(lon, lat)
        assert a is not None and b is not None and a.code == b.code


def test_outer_border_and_higher_code_listed_first(tmp_path: Path) -> None:
    doc = base()
    doc["features"][2], doc["features"][3] = doc["features"][3], doc["features"][2]
    cells, issues = check(tmp_path, doc)
    assert issues == []
    on_edge = cells.locate(X0 + D, Y0 + 0.5 * D)
    assert on_edge is not None and on_edge.code == GRID_A
    on_outer = cells.locate(X0 + 2 * D, Y0 + 0.5 * D)  # the street's own outer edge still counts
    assert on_outer is not None and on_outer.code == GRID_B


# ---------------------------------------------------------------- validation errors


def test_base_fixture_is_clean(tmp_path: Path) -> None:
    cells, issues = check(tmp_path, base())
    assert issues == [] and len(cells) == 4


def test_overlapping_siblings(tmp_path: Path) -> None:
    doc = set_geometry(base(), 3, box(0.9, 0, 2, 1))  # grid B reaches 0.0001° (8.5 m) into grid A
    message = only_message(tmp_path, doc)
    m = re.fullmatch(
        r"grid 110101001001002 \(第二网格\): overlaps grid 110101001001001 \(第一网格\) by (\d+) m²", message
    )
    assert m, message
    assert int(m.group(1)) == pytest.approx(8.54 * 111.0, rel=0.02)


def test_overlap_tolerance_is_one_square_metre(tmp_path: Path) -> None:
    doc = set_geometry(base(), 3, box(1 - 5e-5, 0, 2, 1))  # 4 mm × 111 m ≈ 0.5 m²: digitising noise
    assert check(tmp_path, doc)[1] == []
    doc = set_geometry(base(), 3, box(1 - 2e-4, 0, 2, 1))  # 17 mm × 111 m ≈ 1.9 m²
    assert "overlaps grid 110101001001001 (第一网格) by 2 m²" in only_message(tmp_path, doc)


def test_gap_between_grids(tmp_path: Path) -> None:
    doc = set_geometry(base(), 3, box(1.1, 0, 2, 1))
    message = only_message(tmp_path, doc)
    m = re.fullmatch(
        r"community 110101001001 \(示例社区\): (\d+) m² not covered by any of its grids "
        r"\(e\.g\. around lon ([\d.]+), lat ([\d.]+)\)",
        message,
    )
    assert m, message
    assert int(m.group(1)) == pytest.approx(8.54 * 111.0, rel=0.02)
    assert X0 + D <= float(m.group(2)) <= X0 + 1.1 * D and Y0 <= float(m.group(3)) <= Y0 + D


def test_unknown_parent(tmp_path: Path) -> None:
    doc = base()
    doc["features"].append(feature("110101001002001", "孤网格", "grid", box(2, 0, 3, 1), "110101001002"))
    assert only_message(tmp_path, doc) == (
        "grid 110101001002001 (孤网格): unknown parent community 110101001002: no feature has that code"
    )


def test_parent_that_does_not_match_the_code(tmp_path: Path) -> None:
    doc = base()
    doc["features"][3]["properties"]["parent"] = "110101001002"
    _, issues = check(tmp_path, doc)
    assert [(i.path, i.message) for i in issues] == [
        (
            "features[3].properties.parent",
            "grid 110101001001002: parent must be 110101001001 (the first 12 digits of the code), "
            "got '110101001002'",
        )
    ]


def test_child_outside_its_parent(tmp_path: Path) -> None:
    doc = set_geometry(base(), 3, box(1, 0, 2, 1.1))
    message = only_message(tmp_path, doc)
    assert re.fullmatch(
        r"grid 110101001001002 \(第二网格\): lies partly outside its community 110101001001 \(示例社区\): "
        r"\d+ m² outside",
        message,
    ), message


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            "11010100100102",
            "code: a grid code has 15 digits (6 division + 3 street + 3 community + 3 grid), got '11010100100102'",
        ),
        ("110101001001000", "code: the grid part of 110101001001000 (digits 13–15) is all zeros"),
        (110101001001002, "code: must be a string of digits (put it in quotes), got 110101001001002"),
        (
            "11010100100100X",
            "code: a grid code has 15 digits (6 division + 3 street + 3 community + 3 grid), got '11010100100100X'",
        ),
        (None, "code: missing"),
    ],
)
def test_bad_codes(tmp_path: Path, code: Any, expected: str) -> None:
    doc = base()
    doc["features"][3]["properties"]["code"] = code
    if code is None:
        del doc["features"][3]["properties"]["code"]
    _, issues = check(tmp_path, doc)
    # the unreadable grid leaves a hole in its community: that is not reported as a second, confusing gap
    assert [(i.path, i.message) for i in issues] == [("features[3].properties.code", expected)]


def test_code_rules_per_level() -> None:
    assert code_problem("110101001", "street") is None
    assert code_problem("110101000", "street") == "the street part of 110101000 (digits 7–9) is all zeros"
    assert code_problem("110101001001001", "community") == (
        "a community code has 12 digits (6 division + 3 street + 3 community), got '110101001001001'"
    )


def test_duplicate_code_and_bad_level(tmp_path: Path) -> None:
    doc = base()
    doc["features"].append(copy.deepcopy(doc["features"][3]))
    doc["features"][1]["properties"]["level"] = "district"
    _, issues = check(tmp_path, doc)
    assert [(i.path, i.message) for i in issues] == [
        ("features[1].properties.level", "level must be street, community or grid, got 'district'"),
        ("features[4].properties.code", "code 110101001001002 is used twice (first at features[3])"),
    ]


def test_invalid_polygons(tmp_path: Path) -> None:
    bow_tie = [[[X0, Y0], [X0 + D, Y0 + D], [X0 + D, Y0], [X0, Y0 + D], [X0, Y0]]]
    cases = [
        (bow_tie, r"invalid polygon: Self-intersection at lon 116\.400500, lat 39\.900500 \(check the order"),
        (
            [[[Y0, X0], [Y0 + D, X0], [Y0 + D, X0 + D], [Y0, X0]]],
            r"looks like \[lat, lon\]; GeoJSON positions",
        ),
        ([[[X0, Y0], [X0 + D, Y0], [X0 + D, Y0 + D], [X0, Y0 + D]]], r"ring is not closed"),
        ([[[4.4e5, 4.4e6], [4.5e5, 4.4e6], [4.5e5, 4.5e6], [4.4e5, 4.4e6]]], r"projected metres"),
        ([[["116.4", "39.9"], [X0 + D, Y0], [X0, Y0 + D], ["116.4", "39.9"]]], r"two numbers"),
    ]
    for coords, pattern in cases:
        doc = set_geometry(base(), 3, coords)
        _, issues = check(tmp_path, doc)
        assert len(issues) == 1 and issues[0].path == "features[3].geometry", [str(i) for i in issues]
        assert issues[0].message.startswith("grid 110101001001002 (第二网格): ")
        assert re.search(pattern, issues[0].message), issues[0].message
    doc = base()
    doc["features"][3]["geometry"] = {"type": "Point", "coordinates": [X0, Y0]}
    assert "must be a Polygon or MultiPolygon, got 'Point'" in only_message(tmp_path, doc)


def test_community_without_grids(tmp_path: Path) -> None:
    doc = base()
    doc["features"] = doc["features"][:2]
    assert only_message(tmp_path, doc) == (
        "community 110101001001 (示例社区): has no grids: points inside it cannot be placed in a grid"
    )


def test_file_level_errors(tmp_path: Path) -> None:
    path = tmp_path / "grid.geojson"
    path.write_text('{\n  "type": "FeatureCollection",\n  "features": [\n    {"type": "Feature",,}\n  ]\n}\n')
    _, issues = read_cells(path)
    assert [(i.line, i.message) for i in issues] == [
        (4, "invalid JSON: Expecting property name enclosed in double quotes")
    ]
    assert only_message(tmp_path, {"type": "Feature"}) == "expected a GeoJSON FeatureCollection"
    assert (
        only_message(tmp_path, base() | {"datum": "bd-09"})
        == "unknown datum 'bd-09' (known: wgs84, gcj02, bd09)"
    )
    assert only_message(
        tmp_path, base() | {"crs": {"type": "name", "properties": {"name": "EPSG:3857"}}}
    ) == ("coordinates must be WGS-84 (or CGCS2000) lon/lat degrees")
    _, issues = read_cells(tmp_path / "missing.geojson")
    assert [i.message for i in issues] == ["file not found"]
    with pytest.raises(ConfigError, match="file not found"):
        load_cells(tmp_path / "missing.geojson")


def test_issues_name_the_file_line_and_feature(tmp_path: Path) -> None:
    doc = set_geometry(base(), 3, box(0.9, 0, 2, 1))
    _, issues = check(tmp_path, doc)
    lines = (tmp_path / "grid.geojson").read_text(encoding="utf-8").splitlines()
    assert f'"code": "{GRID_B}"' in lines[issues[0].line - 1]
    assert str(issues[0]).startswith(
        f"{tmp_path / 'grid.geojson'}:{issues[0].line}: features[3].geometry: grid "
    )


def test_gcj02_datum_is_converted_on_load(tmp_path: Path) -> None:
    wgs_cells, _ = check(tmp_path, base())
    doc = base() | {"datum": "gcj02"}
    for feat in doc["features"]:
        ring = feat["geometry"]["coordinates"][0]
        feat["geometry"]["coordinates"] = [[list(wgs84_to_gcj02(lon, lat)) for lon, lat in ring]]
    gcj_cells, issues = check(tmp_path, doc)
    assert issues == []
    for code in (STREET, GRID_A, GRID_B):
        assert gcj_cells[code].geometry.equals_exact(wgs_cells[code].geometry, tolerance=1e-8)
    # without the conversion the grid would be ~500 m off
    raw = GridCells(c for c in gcj_cells)
    assert raw.locate(X0 + 0.5 * D, Y0 + 0.5 * D) is not None
